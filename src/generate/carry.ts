import {normalizeKey, normalizeValue} from '../facts/normalize.js'
import {TwError} from '../errors.js'
import type {Rule} from '../rules/types.js'
import type {Plan, PlanEntry} from './plan.js'

/**
 * The settings of a sysctl.d file twadvisor wrote before, with the rule ids and reasons of the
 * comment above each key ("rule-a, rule-b: reason"). Once a remedy is in force its finding stops
 * firing, so a fresh plan no longer asks for it: these are what keeps it in the file.
 */
export interface OwnEntry extends PlanEntry {
  /** 1-based line of the setting in the file. */
  line: number
}

export function parseOwnSysctlD(text: string): OwnEntry[] {
  const out: OwnEntry[] = []
  let comment = ''
  const lines = text.split('\n')
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!
    const line = raw.trim()
    if (line.startsWith('#')) {
      comment = line.replace(/^#+\s*/, '')
      continue
    }
    const eq = line.indexOf('=')
    if (eq > 0) {
      const m = /^([a-z0-9][a-z0-9, -]*?):\s*(.*)$/.exec(comment)
      const ruleIds = m ? m[1]!.split(',').map((s) => s.trim()).filter(Boolean) : []
      out.push({
        key: normalizeKey(line.slice(0, eq)),
        value: normalizeValue(line.slice(eq + 1)),
        ruleIds,
        reasons: m && m[2] ? [m[2]] : [],
        flows: [],
        line: n + 1,
      })
    }
    comment = ''
  }
  return out
}

/** Every key some remedy of these rules can set: the only keys twadvisor ever writes. */
export function writableKeys(rules: Pick<Rule, 'remedies'>[]): string[] {
  return [...new Set(rules.flatMap((r) => r.remedies.flatMap((x) => Object.keys(x.sysctl ?? {}).map(normalizeKey))))].sort()
}

/** A previous setting that is not carried into the new file, and why. */
export interface Dropped {
  key: string
  line: number
  why: string
}

/**
 * Which previous settings twadvisor wrote: the comment above names only known rules, and one of
 * those rules has a remedy that sets this key. Anything else — a hand-added line, a key no rule
 * sets (kernel.core_pattern), a rule id that does not exist — is not carried over; the caller
 * reports it. The file says "regenerate rather than edit", and carrying a hand-added key would
 * turn any edit into a setting twadvisor vouches for.
 */
export function carryable(previous: OwnEntry[], rules: Pick<Rule, 'id' | 'remedies'>[]): {carry: OwnEntry[]; dropped: Dropped[]} {
  const keysOf = new Map(rules.map((r) => [r.id, new Set(r.remedies.flatMap((x) => Object.keys(x.sysctl ?? {}).map(normalizeKey)))]))
  const carry: OwnEntry[] = []
  const dropped: Dropped[] = []
  for (const e of previous) {
    const unknown = e.ruleIds.filter((id) => !keysOf.has(id))
    if (e.ruleIds.length === 0) dropped.push({key: e.key, line: e.line, why: 'no twadvisor rule comment above it (added by hand?)'})
    else if (unknown.length > 0) dropped.push({key: e.key, line: e.line, why: `its comment names no rule twadvisor has (${unknown.join(', ')})`})
    else if (!e.ruleIds.some((id) => keysOf.get(id)!.has(e.key))) dropped.push({key: e.key, line: e.line, why: `no remedy of ${e.ruleIds.join(', ')} sets this key`})
    else carry.push(e)
  }
  return {carry, dropped}
}

/**
 * True when the file already says everything the fresh plan asks for and carries nothing but
 * twadvisor's own settings (anything `carryable` drops makes the file stale).
 */
export function planIsCurrent(plan: Plan, previous: OwnEntry[], dropped: Dropped[]): boolean {
  const old = new Map(previous.map((e) => [e.key, e.value]))
  return dropped.length === 0 && plan.entries.every((e) => old.get(e.key) === e.value)
}

/**
 * The fresh plan plus the carried settings it does not mention (fresh values win). The carried
 * entries are marked so errors about them can name the file and line they came from.
 */
export function withCarriedOver(plan: Plan, carry: OwnEntry[]): {plan: Plan; carried: OwnEntry[]} {
  const fresh = new Set(plan.entries.map((e) => e.key))
  const carried = carry.filter((e) => !fresh.has(e.key))
  const asEntries: PlanEntry[] = carried.map(({line: _line, ...e}) => e)
  // Keys are unique (the carried ones are those the plan lacks): never equal, so -1 or 1.
  const entries = [...plan.entries, ...asEntries].sort((a, b) => (a.key < b.key ? -1 : 1))
  return {plan: {...plan, entries}, carried}
}

/** An error about a carried key, re-placed at the line of the existing file it came from. */
export function atCarriedLine(error: unknown, file: string, carried: OwnEntry[]): unknown {
  if (!(error instanceof TwError)) return error
  const from = carried.find((e) => e.key === error.position.field)
  if (!from) return error
  return new TwError(error.code, `carried over from the existing file: ${error.message}`, {
    position: {file, line: from.line, field: from.key},
    hint: 'fix or remove that line (twadvisor keeps the settings it wrote), or regenerate the file from scratch',
  })
}
