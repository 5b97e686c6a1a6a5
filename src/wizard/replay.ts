import {readFile} from 'node:fs/promises'

import {LineCounter, parseDocument, type Document} from 'yaml'

import {TwError, type ErrorPosition} from '../errors.js'
import {nearest} from '../util/nearest.js'
import type {ConfirmQuestion, InputQuestion, Prompts, QuestionBase, SelectQuestion} from './prompts.js'

/**
 * --answers FILE: the wizard without a terminal. The file (YAML or JSON) holds answers by
 * question id, laid out like the topology file, so a topology.yaml replays as it is:
 *
 *   symptom: resets
 *   host: php-01
 *   flows:
 *     - {role: server, peer: 10.0.1.10:80, qps: 600, closes_first: server, nat: {port_range: [32768, 60999]}}
 *   topology_file: topology.yaml
 *   sysctl_file: 60-twadvisor.conf
 *
 * (A topology.yaml replays too, as long as each key is one the wizard asks for that role.)
 * A missing answer takes the question's default. An answer the question refuses, or an answer
 * no question asked for, is an error with the file and line: there is nobody to re-ask.
 */
export interface Answers {
  file: string
  data: Record<string, unknown>
  at: (path: (string | number)[]) => ErrorPosition
}

export async function loadAnswers(file: string): Promise<Answers> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new TwError('wizard.answers', `cannot read answers: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {position: {file}})
  }
  return parseAnswers(text, file)
}

export function parseAnswers(text: string, file: string): Answers {
  const lineCounter = new LineCounter()
  // YAML 1.2 reads JSON as well.
  const doc: Document = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const pos = (offset: number | undefined): ErrorPosition => {
    if (offset === undefined) return {file}
    const p = lineCounter.linePos(offset)
    return {file, line: p.line, col: p.col}
  }
  const first = doc.errors[0]
  if (first) throw new TwError('wizard.answers', first.message.split('\n')[0]!, {position: pos(first.pos[0])})
  const data: unknown = doc.toJS()
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TwError('wizard.answers', 'answers are a mapping of question ids to answers (symptom, host, flows, ...)', {position: {file, line: 1, col: 1}})
  }
  const at = (path: (string | number)[]): ErrorPosition => {
    const node = doc.getIn(path, true) as {range?: [number, number, number]} | undefined
    return {...pos(node?.range?.[0]), field: path.join('.')}
  }
  return {file, data: data as Record<string, unknown>, at}
}

const toPath = (id: string): (string | number)[] => id.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s))

function lookup(data: unknown, path: (string | number)[]): unknown {
  let cur = data
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[key]
  }
  return cur
}

/** The leaves of the answers: every path a question must have consumed. */
function leaves(value: unknown, path: string[] = []): string[] {
  if (Array.isArray(value) && value.length > 0 && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    return value.flatMap((v, i) => leaves(v, [...path, String(i)]))
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]))
  }
  return [path.join('.')]
}

function asText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (Array.isArray(v)) return v.map(asText).join('-')
  return String(v)
}

export function replayPrompts(answers: Answers, print: (line: string) => void): Prompts {
  const asked = new Set<string>()
  const get = (id: string) => {
    asked.add(id)
    return lookup(answers.data, toPath(id))
  }
  const fail = (q: QuestionBase, reason: string): never => {
    throw new TwError('wizard.answer', reason, {position: answers.at(toPath(q.id)), hint: q.message})
  }
  const echo = (q: QuestionBase, shown: string) => print(`✔ ${q.message} ${shown}`)

  return {
    async input(q: InputQuestion) {
      const v = get(q.id)
      const raw = v === undefined ? (q.default ?? '') : asText(v)
      const check = q.validate ? await q.validate(raw) : true
      if (check !== true) fail(q, v === undefined ? `no answer, and no default: ${check}` : check)
      echo(q, raw)
      return raw
    },
    async select<T extends string>(q: SelectQuestion<T>) {
      const v = get(q.id)
      const value = v === undefined ? q.default : q.choices.find((c) => c.value === asText(v))?.value
      if (value === undefined) {
        const allowed = q.choices.map((c) => c.value)
        const guess = v === undefined ? undefined : nearest(asText(v), allowed)
        fail(q, v === undefined ? `no answer, and no default (one of ${allowed.join(', ')})` : `"${asText(v)}" is not one of ${allowed.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`)
      }
      echo(q, q.choices.find((c) => c.value === value)!.name)
      return value!
    },
    async confirm(q: ConfirmQuestion) {
      const v = get(q.id)
      let value: boolean | undefined
      if (v === undefined) {
        // "Add another flow?" follows from the list itself: another one while entries remain.
        const more = /^flows\.(\d+)\.another$/.exec(q.id)
        const flows = answers.data.flows
        value = more && Array.isArray(flows) ? flows.length > Number(more[1]) + 1 : q.default
      } else if (typeof v === 'boolean') value = v
      else if (v !== null && typeof v === 'object' && !Array.isArray(v)) value = true // e.g. `nat: {port_range: ...}`
      else if (/^(y|yes|true)$/i.test(asText(v))) value = true
      else if (/^(n|no|false)$/i.test(asText(v))) value = false
      if (value === undefined) fail(q, v === undefined ? 'no answer, and no default (true or false)' : `"${asText(v)}" is not true or false`)
      echo(q, value ? 'yes' : 'no')
      return value!
    },
    answered(id: string) {
      return lookup(answers.data, toPath(id)) !== undefined
    },
    done() {
      const unused = leaves(answers.data).filter((leaf) => !asked.has(leaf))
      const first = unused[0]
      if (first === undefined) return
      const guess = nearest(first.split('.').pop()!, [...asked].map((id) => id.split('.').pop()!))
      throw new TwError('wizard.answers', `"${first}" answers no question the wizard asked${unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''}`, {
        position: answers.at(toPath(first)),
        hint: guess ? `did you mean "${guess}"?` : 'remove it; `twadvisor wizard --help` lists the answer keys',
      })
    },
  }
}
