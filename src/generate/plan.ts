import {TwError} from '../errors.js'
import {normalizeKey, normalizeValue} from '../facts/normalize.js'
import type {HostReport} from '../rules/types.js'

/**
 * The sysctl changes for THIS host, picked from a HostReport: per finding (not waived) the
 * first-ranked remedy that sets sysctls (the engine has already ranked the remedies and checked
 * each with the model), merged across findings. Pure: data in, data out.
 */
export interface PlanEntry {
  /** Dotted key, as `sysctl -a` prints it. */
  key: string
  /** Normalized value: one space between the fields of multi-value keys. */
  value: string
  /** The rules that asked for this key, in the order the report lists them, without repeats. */
  ruleIds: string[]
  /** Each rule's one-line reason (the remedy's `why`), without repeats. */
  reasons: string[]
  /** The flows the findings were about, when they name one. */
  flows: string[]
}

export interface Plan {
  host: string
  kernel: string | null
  /** Where the facts came from (a dump path, "live", "netns:NAME"). */
  source: string
  /** Sorted by key, so the rendered files do not depend on finding order. */
  entries: PlanEntry[]
  /** Findings that had remedies but none a sysctl on this host (the report says what to do instead). */
  notSysctl: string[]
  /** Findings whose sysctl remedy is not their first-ranked one: a better fix exists outside this file. */
  betterRemedy: string[]
}

/** A reason on one line: newlines and runs of blanks collapsed (it goes into a `#` comment). */
export function oneLine(text: string): string {
  return text.trim().split(/\s+/).join(' ')
}

/** Keys whose merge is not "same value or conflict": the rule that makes two asks compatible. */
const MERGERS: Record<string, (a: string, b: string) => string | null> = {
  // Two findings that each need more source ports are both served by the wider range.
  'net.ipv4.ip_local_port_range': (a, b) => {
    const [al, ah] = a.split(' ').map(Number)
    const [bl, bh] = b.split(' ').map(Number)
    if (![al, ah, bl, bh].every((n) => Number.isInteger(n))) return null
    return `${Math.min(al!, bl!)} ${Math.max(ah!, bh!)}`
  },
  // A bucket limit low enough for the stricter finding also satisfies the other.
  'net.ipv4.tcp_max_tw_buckets': (a, b) => {
    const [x, y] = [Number(a), Number(b)]
    if (!Number.isInteger(x) || !Number.isInteger(y)) return null
    return String(Math.min(x, y))
  },
}

function pushUnique(list: string[], item: string | undefined): void {
  if (item !== undefined && item !== '' && !list.includes(item)) list.push(item)
}

export function planFromReport(report: HostReport): Plan {
  const byKey = new Map<string, PlanEntry>()
  const notSysctl: string[] = []
  const betterRemedy: string[] = []
  for (const finding of report.findings) {
    if (finding.waived) continue
    const remedy = finding.remedies.find((r) => r.sysctl !== undefined && Object.keys(r.sysctl).length > 0)
    if (!remedy?.sysctl) {
      if (finding.remedies.length > 0) pushUnique(notSysctl, finding.id)
      continue
    }
    if (finding.remedies[0] !== remedy) pushUnique(betterRemedy, finding.id)
    const reason = oneLine(remedy.why)
    for (const [rawKey, rawValue] of Object.entries(remedy.sysctl)) {
      const key = normalizeKey(rawKey)
      const value = normalizeValue(String(rawValue))
      const entry = byKey.get(key)
      if (!entry) {
        byKey.set(key, {key, value, ruleIds: [finding.id], reasons: reason ? [reason] : [], flows: finding.flow ? [finding.flow] : []})
        continue
      }
      if (entry.value !== value) {
        const merged = MERGERS[key]?.(entry.value, value) ?? null
        if (merged === null) {
          throw new TwError(
            'generate.conflict',
            `rules ${entry.ruleIds.join(', ')} and ${finding.id} want different values for ${key}: "${entry.value}" and "${value}"`,
            {
              hint: `waive one of them (topology waivers, or --waive ${finding.id}) or change the topology so they agree`,
              position: {field: key},
            },
          )
        }
        entry.value = merged
      }
      pushUnique(entry.ruleIds, finding.id)
      pushUnique(entry.reasons, reason)
      pushUnique(entry.flows, finding.flow)
    }
  }
  // Keys are unique (one entry per key in byKey): never equal, so -1 or 1.
  const entries = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1))
  return {host: report.host, kernel: report.kernel, source: report.source, entries, notSysctl, betterRemedy}
}
