// Shared by the wizard tests: the real 6.18 dump as facts, a scripted Prompts that answers by
// question id (and records what was asked and what was refused), and scratch directories.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Facts} from '../../src/facts/types.js'
import {factsFromDump} from '../../src/sources/dump.js'
import type {ConfirmQuestion, InputQuestion, Prompts, SelectQuestion} from '../../src/wizard/prompts.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const FIXTURE = join(ROOT, 'test', 'fixtures', 'sysctl-6.18.44.txt')

export function fixtureFacts(overrides: Record<string, string> = {}): Facts {
  const facts = factsFromDump(readFileSync(FIXTURE, 'utf8'), FIXTURE)
  return {...facts, sysctls: {...facts.sysctls, ...overrides}}
}

/** An answer: a value, or several typed one after another (all but the last expected to be refused). */
export type Answer = string | boolean | string[]

export interface Asked {
  id: string
  message: string
  hint?: string
  default?: string | boolean
}

export interface ScriptedPrompts extends Prompts {
  asked: Asked[]
  refused: {id: string; answer: string; reason: string}[]
  ids(): string[]
}

/**
 * Behaves like inquirer for the flow: an unscripted question takes its default (Enter), each
 * typed answer goes through `validate` and a refused one is recorded and the next one typed.
 * `throwAt` makes one question throw, as inquirer does on Ctrl-C.
 */
export function scripted(script: Record<string, Answer>, opts: {throwAt?: string} = {}): ScriptedPrompts {
  const asked: Asked[] = []
  const refused: ScriptedPrompts['refused'] = []
  const interrupt = (id: string) => {
    if (opts.throwAt === id) {
      const e = new Error('User force closed the prompt with SIGINT')
      e.name = 'ExitPromptError'
      throw e
    }
  }
  return {
    asked,
    refused,
    ids: () => asked.map((a) => a.id),
    async input(q: InputQuestion) {
      asked.push({id: q.id, message: q.message, hint: q.hint, default: q.default})
      interrupt(q.id)
      const a = script[q.id]
      const tries = a === undefined ? [q.default ?? ''] : Array.isArray(a) ? a : [String(a)]
      for (const t of tries) {
        const check = q.validate ? await q.validate(t) : true
        if (check === true) return t
        refused.push({id: q.id, answer: t, reason: check})
      }
      throw new Error(`every scripted answer for ${q.id} was refused: ${refused.filter((r) => r.id === q.id).map((r) => r.reason).join(' | ')}`)
    },
    async select<T extends string>(q: SelectQuestion<T>) {
      asked.push({id: q.id, message: q.message, hint: q.hint, default: q.default})
      interrupt(q.id)
      const a = script[q.id]
      const v = a === undefined ? q.default : q.choices.find((c) => c.value === a)?.value
      if (v === undefined) throw new Error(`no choice ${String(a)} for ${q.id}`)
      return v
    },
    async confirm(q: ConfirmQuestion) {
      asked.push({id: q.id, message: q.message, hint: q.hint, default: q.default})
      interrupt(q.id)
      const a = script[q.id]
      if (a === undefined) {
        if (q.default === undefined) throw new Error(`no default for ${q.id}`)
        return q.default
      }
      if (typeof a !== 'boolean') throw new Error(`confirm ${q.id} needs a boolean`)
      return a
    },
  }
}

export function scratchDir(prefix = 'twwiz-'): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})}
}
