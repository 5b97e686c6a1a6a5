import {severityRank, type Finding, type Remedy, type Severity} from './types.js'

/**
 * Remedies judged on the whole host (issue 12, item 4). The engine checks each remedy against
 * its own finding; this step checks it against the host: applied alone, a remedy must not
 * create a finding (a rule id on a flow that had none) at or above its finding's severity.
 * Raising tcp_max_tw_buckets for an overflow, for example, can make a client flow run out of
 * ports. Such a remedy is offered as the combination that holds: it plus, for each finding it
 * creates, that finding's first sysctl remedy (what `generate` would also write, so `check`
 * and `generate` agree), repeated while the combination creates more; if none holds within a
 * few rounds the remedy is not offered.
 */

/** What fires on a host state: rule id, flow, severity (no messages or remedies). */
export interface Fired {
  id: string
  flow?: string
  severity: Severity
}

/**
 * The engine's side: evaluate the host changed by `sysctl` (keys set on top of the host's) and
 * `flowPatches` (by flow name; patchFlow applies them). Given the change rather than the changed
 * state, the engine can judge a one-flow change without re-running every flow, and a host-wide
 * change once however many flows propose it.
 */
export interface HostHooks {
  /**
   * The rules that fire on this state, of at least `minSeverity`; with `onlyFlow`, only the host
   * rules and that flow's (a change to one flow's declaration moves nothing on the others).
   */
  fired(sysctl: Record<string, string>, flowPatches: Map<string, Record<string, unknown>>, minSeverity?: Severity, onlyFlow?: string): Fired[]
  /**
   * For a finding on this state (rule id, flow; none: the host's), its first remedy that sets
   * sysctls, checked by the model (undefined: no such finding or remedy). Asked finding by finding.
   */
  fixes(sysctl: Record<string, string>, flowPatches: Map<string, Record<string, unknown>>): (finding: {id: string; flow?: string}) => Remedy | undefined
}

/** Enough for any chain the rules have today (generate settles in the same number of rounds). */
const MAX_ROUNDS = 3


export function judgeRemediesOnHost(findings: Finding[], hooks: HostHooks): void {
  // What fires before any change, by rule id: the flows (none: '') it fires on.
  const before = new Map<string, Set<string>>()
  for (const f of hooks.fired({}, new Map())) {
    let flows = before.get(f.id)
    if (!flows) before.set(f.id, (flows = new Set()))
    flows.add(f.flow ?? '')
  }
  // The findings a state creates, by severity: hooks.fired gives the same list for a state it
  // has judged (a host-wide remedy many findings propose), so this is worked out once for it.
  const createdBy = new WeakMap<Fired[], Map<number, Fired[]>>()
  const created = (fired: Fired[], rank: number): Fired[] => {
    const fresh = (): Fired[] => fired.filter((f) => before.get(f.id)?.has(f.flow ?? '') !== true && severityRank(f.severity) >= rank)
    // A one-flow change's short list is its own: nothing to share.
    if (fired.length < 32) return fresh()
    let byRank = createdBy.get(fired)
    if (!byRank) createdBy.set(fired, (byRank = new Map()))
    let out = byRank.get(rank)
    if (!out) byRank.set(rank, (out = fresh()))
    return out
  }
  for (const finding of findings) {
    finding.remedies = finding.remedies.flatMap((remedy) => {
      const judged = judge(finding, remedy, created, hooks)
      return judged ? [judged] : []
    })
  }
}

function judge(finding: Finding, remedy: Remedy, createdOn: (fired: Fired[], rank: number) => Fired[], hooks: HostHooks): Remedy | null {
  const rank = severityRank(finding.severity)
  const sysctl: Record<string, string> = Object.assign({}, remedy.sysctl ?? {})
  const patches = new Map<string, Record<string, unknown>>()
  if (remedy.flow && finding.flow !== undefined) patches.set(finding.flow, Object.assign({}, remedy.flow))
  const added: {id: string; flow?: string; sysctl: Record<string, string>}[] = []
  for (let round = 0; round <= MAX_ROUNDS; round++) {
    // Only rules as severe as the finding can matter; a flow-only change can only move that flow.
    const onlyFlow = Object.keys(sysctl).length === 0 && patches.size === 1 ? [...patches.keys()][0] : undefined
    const fired = hooks.fired(sysctl, patches, finding.severity, onlyFlow)
    // What the combination adds must not undo the remedy: its own finding stays cleared.
    if (added.length > 0 && fired.some((f) => f.id === finding.id && f.flow === finding.flow)) return null
    const created = createdOn(fired, rank)
    if (created.length === 0) {
      if (added.length === 0) return remedy
      return combined(remedy, sysctl, added)
    }
    if (round === MAX_ROUNDS) return null
    // Each created finding's first sysctl remedy, checked by the model on the changed host.
    const fixOf = hooks.fixes(sysctl, patches)
    for (const c of created) {
      const fix = fixOf(c)
      if (!fix?.sysctl) return null
      // A key the combination already sets to another value would undo the remedy itself.
      for (const [k, v] of Object.entries(fix.sysctl)) if (k in sysctl && sysctl[k] !== v) return null
      Object.assign(sysctl, fix.sysctl)
      added.push({id: c.id, flow: c.flow, sysctl: fix.sysctl})
    }
  }
  return null
}

function combined(remedy: Remedy, sysctl: Record<string, string>, added: {id: string; flow?: string; sysctl: Record<string, string>}[]): Remedy {
  const parts = added.map((a) => `${Object.entries(a.sysctl).map(([k, v]) => `${k}=${v}`).join(', ')} (else ${a.id}${a.flow ? ` on flow ${a.flow}` : ''})`)
  return Object.assign({}, remedy, {
    sysctl,
    why: `${remedy.why.trim()} Applied alone it would create a finding as severe elsewhere on this host, so it comes with: ${parts.join('; ')}.`,
    combinedWith: added.map((a) => (a.flow ? `${a.id}:${a.flow}` : a.id)),
  })
}
