import type {Facts} from './facts/types.js'
import {evaluateHost} from './rules/engine.js'
import {loadRules, type LoadedRule} from './rules/load.js'
import {buildReport} from './rules/report.js'
import type {HostReport, Report} from './rules/types.js'
import type {Topology} from './topology/types.js'

export interface HostInput {
  facts: Facts
  topology: Topology
  label?: string
}

/** The main job as a library call: evaluate hosts against the rules, one report. */
export function checkHosts(inputs: HostInput[], opts: {waive?: string[]; rules?: LoadedRule[]} = {}): {report: Report; rules: LoadedRule[]} {
  const rules = opts.rules ?? loadRules()
  const hosts: HostReport[] = inputs.map((i) => evaluateHost(i.facts, i.topology, rules, {waive: opts.waive, hostLabel: i.label}))
  return {report: buildReport(hosts), rules}
}
