import {createHash} from 'node:crypto'
import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import {LineCounter, parseDocument} from 'yaml'

import {TwError} from '../errors.js'
import validateRule from '../generated/validate-rule.js'
import {PACKAGE_ROOT} from '../util/paths.js'
import {isFactId} from '../facts/kernel-facts.js'
import {compile, Expressions, templateExpressions} from './cel.js'
import type {Rule} from './types.js'

export interface LoadedRule extends Rule {
  /** Every CEL expression of the rule, compiled once: when, evidence, templates, remedy conditions. */
  compiled: Expressions
}

export const RULES_DIR = join(PACKAGE_ROOT, 'rules')

/**
 * Load and validate every rules/*.yaml at start. A broken file is a TwError naming the file,
 * the line and the field; rules are never half-loaded.
 */
export function loadRules(dir = RULES_DIR, opts: {bundle?: boolean} = {}): LoadedRule[] {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()
  } catch (error) {
    throw new TwError('rules.read', `cannot read the rules folder: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {position: {file: dir}})
  }
  const texts = names.map((n) => readFileSync(join(dir, n), 'utf8'))
  // The build validated these exact files (same names, same bytes) into a bundle: reuse it and
  // skip YAML parsing and CEL type checks at start. Any edit falls back to the full load.
  const digest = rulesDigest(names, texts)
  const bundled = opts.bundle !== false && dir === RULES_DIR ? readBundle(digest) : undefined
  if (bundled) return bundled.map((r, i) => withLazyCompile({...r, file: join(dir, names[i]!)}))
  const rules = names.map((n, i) => parseRuleText(texts[i]!, join(dir, n)))
  const seen = new Map<string, string>()
  for (const r of rules) {
    const other = seen.get(r.id)
    if (other) throw new TwError('rules.duplicate', `rule id "${r.id}" is also used by ${other}`, {position: {file: r.file, field: 'id'}})
    seen.set(r.id, r.file)
  }
  return rules
}

export const RULES_BUNDLE = join(PACKAGE_ROOT, 'dist', 'generated', 'rules.json')

export function rulesDigest(names: string[], texts: string[]): string {
  const h = createHash('sha256')
  names.forEach((n, i) => h.update(`${n}\0${texts[i]}\0`))
  return h.digest('hex')
}

function readBundle(digest: string): Rule[] | undefined {
  try {
    const b = JSON.parse(readFileSync(RULES_BUNDLE, 'utf8')) as {digest: string; rules: Rule[]}
    return b.digest === digest ? b.rules : undefined
  } catch {
    return undefined
  }
}

/** Rules from the bundle were checked at build time; each expression compiles on first use. */
function withLazyCompile(rule: Rule): LoadedRule {
  return {...rule, compiled: new Expressions()}
}

function parseRuleText(text: string, file: string): LoadedRule {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, uniqueKeys: true})
  const at = (path: (string | number)[]) => {
    const node = doc.getIn(path, true) as {range?: [number, number]} | undefined
    const offset = node?.range?.[0]
    if (offset === undefined) return {file}
    const p = lineCounter.linePos(offset)
    return {file, line: p.line, col: p.col}
  }
  if (doc.errors[0]) {
    const e = doc.errors[0]
    const p = lineCounter.linePos(e.pos[0])
    throw new TwError('rules.yaml', e.message.split('\n')[0]!, {position: {file, line: p.line, col: p.col}})
  }
  const data = doc.toJS() as Record<string, unknown>
  if (!validateRule(data)) {
    const err = (validateRule.errors as {instancePath: string; message?: string; params: Record<string, unknown>}[])[0]!
    const path = err.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s))
    const extra = err.params.additionalProperty ?? err.params.missingProperty
    const field = [...path, ...(extra ? [String(extra)] : [])].join('.') || '(top level)'
    throw new TwError('rules.invalid', `${err.message ?? 'invalid'}${extra ? ` "${String(extra)}"` : ''}`, {position: {...at(path), field}})
  }
  const rule = {...(data as unknown as Rule), remedies: (data.remedies as Rule['remedies'] | undefined) ?? [], file}
  // A gate names a row of the kernel facts table, or it could never hold (or never fail).
  const checkFacts = (ids: string[] | undefined, path: (string | number)[]) =>
    (ids ?? []).forEach((id, i) => {
      if (!isFactId(id)) {
        throw new TwError('rules.invalid', `unknown kernel fact "${id}" (see src/facts/kernel-facts.ts)`, {
          position: {...at([...path, i]), field: [...path, i].join('.')},
        })
      }
    })
  checkFacts(rule.facts, ['facts'])
  rule.remedies.forEach((r, i) => checkFacts(r.facts, ['remedies', i, 'facts']))
  const compiled = new Expressions()
  const add = (expr: string, path: (string | number)[]) => {
    if (compiled.has(expr)) return
    try {
      const fn = compile(expr)
      const check = fn.check()
      if (!check.valid && check.error) throw check.error
      compiled.add(expr, fn)
    } catch (error) {
      throw new TwError('rules.expression', `bad CEL expression: ${(error as Error).message.split('\n')[0]}`, {
        position: {...at(path), field: path.join('.')},
      })
    }
  }
  add(rule.when, ['when'])
  rule.evidence.forEach((e, i) => add(e, ['evidence', i]))
  templateExpressions(rule.message).forEach((e) => add(e, ['message']))
  rule.remedies.forEach((r, i) => {
    if (r.when) add(r.when, ['remedies', i, 'when'])
    for (const t of [r.why, r.action ?? '', ...Object.values(r.sysctl ?? {}), ...Object.values(r.flow ?? {})]) {
      templateExpressions(t).forEach((e) => add(e, ['remedies', i]))
    }
  })
  return {...rule, compiled}
}
