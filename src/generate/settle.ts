import type {Facts} from '../facts/types.js'
import {evaluateHost} from '../rules/engine.js'
import type {LoadedRule} from '../rules/load.js'
import type {HostReport} from '../rules/types.js'
import type {Topology} from '../topology/types.js'
import {planFromReport} from './plan.js'

/** Enough for any chain the rules have (range → scan → tw_reuse is two); a bound, not a goal. */
const MAX_ROUNDS = 4

export interface SettleInput {
  facts: Facts
  topology: Topology
  rules: LoadedRule[]
  waive?: string[]
}

/**
 * A remedy can lead to a finding of its own: a port range sized just past the limit leaves
 * connect() scanning its first-parity ports, whose remedy is tcp_tw_reuse=1. Writing only the
 * first round's remedies would make the next run ask for more (the Ansible role would change
 * something on its second run). So the plan is followed to a fixed point: apply its sysctls to
 * the facts, evaluate again, and keep the findings that ask for keys not yet planned. The
 * report `check` prints is untouched; this one only feeds the config generators.
 */
export function settleReport(report: HostReport, input: SettleInput): HostReport {
  const findings = [...report.findings]
  let plan = planFromReport(report)
  for (let round = 1; round < MAX_ROUNDS; round++) {
    const applied: Facts = {
      ...input.facts,
      sysctls: {...input.facts.sysctls, ...Object.fromEntries(plan.entries.map((e) => [e.key, e.value]))},
    }
    const next = evaluateHost(applied, input.topology, input.rules, {waive: input.waive})
    const planned = new Set(plan.entries.map((e) => e.key))
    const fresh = planFromReport(next).entries.filter((e) => !planned.has(e.key))
    if (fresh.length === 0) break
    const freshIds = new Set(fresh.flatMap((e) => e.ruleIds))
    findings.push(...next.findings.filter((f) => freshIds.has(f.id) && !f.waived))
    plan = planFromReport({...report, findings})
  }
  return {...report, findings}
}
