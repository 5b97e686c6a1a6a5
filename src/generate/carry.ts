import {normalizeKey, normalizeValue} from '../facts/normalize.js'
import type {Plan, PlanEntry} from './plan.js'

/**
 * The settings of a sysctl.d file twadvisor wrote before, with the rule ids and reasons of the
 * comment above each key ("rule-a, rule-b: reason"). Once a remedy is in force its finding stops
 * firing, so a fresh plan no longer asks for it: these are what keeps it in the file.
 */
export function parseOwnSysctlD(text: string): PlanEntry[] {
  const out: PlanEntry[] = []
  let comment = ''
  for (const raw of text.split('\n')) {
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
      })
    }
    comment = ''
  }
  return out
}

/**
 * True when the file already says everything the fresh plan asks for and carries nothing but
 * twadvisor's own settings (a line without a rule comment was added by hand: the file is stale).
 */
export function planIsCurrent(plan: Plan, previous: PlanEntry[]): boolean {
  const old = new Map(previous.map((e) => [e.key, e.value]))
  return previous.every((e) => e.ruleIds.length > 0) && plan.entries.every((e) => old.get(e.key) === e.value)
}

/**
 * The fresh plan plus the previous file's twadvisor settings it does not mention (fresh values
 * win; lines without a rule comment are not carried).
 */
export function withCarriedOver(plan: Plan, previous: PlanEntry[]): Plan {
  const fresh = new Set(plan.entries.map((e) => e.key))
  const carried = previous.filter((e) => e.ruleIds.length > 0 && !fresh.has(e.key))
  const entries = [...plan.entries, ...carried].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return {...plan, entries}
}
