import {isTwError, TwError, type ErrorPosition} from './errors.js'
import type {Facts} from './facts/types.js'
import {nearest} from './util/nearest.js'
import {shown} from './util/text.js'
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

export interface CheckOptions {
  waive?: string[]
  /** A host whose input is wrong becomes an error entry for that host (fleet runs). */
  isolateErrors?: boolean
}

/**
 * The main job as a library call: evaluate hosts against the rules, one report. With
 * `isolateErrors` (fleet runs) a host whose input is wrong becomes an error entry for that host;
 * otherwise the TwError propagates (one host: exit 1 with its one line).
 */
export function checkHosts(inputs: HostInput[], opts: CheckOptions & {rules?: LoadedRule[]} = {}): {report: Report; rules: LoadedRule[]} {
  const rules = opts.rules ?? loadRules()
  checkWaiveFlags(opts.waive ?? [], rules)
  checkWaiveFlows(opts.waive ?? [], inputs.flatMap((i) => i.topology.flows.map((f) => f.name)))
  return {report: buildReport(inputs.map((i) => checkHost(i, rules, opts))), rules}
}

/** A flow name as the topology schema allows it. */
const FLOW_NAME = /^[A-Za-z0-9_.-]+$/

/** `--waive ID` or `--waive ID:flow`, split; anything else (empty parts, a second colon) is bad input. */
export function parseWaive(w: string): {id: string; flow?: string} {
  const parts = w.split(':')
  const [id, flow] = parts
  if (parts.length > 2 || id === undefined || id === '' || (parts.length === 2 && (flow === undefined || !FLOW_NAME.test(flow)))) {
    throw new TwError('waiver.syntax', `"${shown(w, 80)}" is not ID or ID:flow`, {
      position: {field: '--waive'},
      hint: 'e.g. --waive client-port-exhaustion or --waive client-port-exhaustion:to-cache (a flow name from the topology)',
    })
  }
  return parts.length === 2 ? {id, flow} : {id}
}

/** `--waive ID[:flow]` naming no rule, or not in that form, is bad input for the whole run. */
export function checkWaiveFlags(waive: string[], rules: LoadedRule[]): void {
  const ids = rules.map((r) => r.id)
  for (const w of waive) checkWaiverId(parseWaive(w).id, ids, {field: '--waive'})
}

/** `--waive ID:flow` naming a flow that no topology of the run has would waive nothing: bad input. */
export function checkWaiveFlows(waive: string[], flows: Iterable<string>): void {
  const known = new Set(flows)
  for (const w of waive) {
    const {flow} = parseWaive(w)
    if (flow === undefined || known.has(flow)) continue
    const guess = nearest(flow, [...known])
    throw new TwError('waiver.unknown-flow', `--waive names flow "${flow}", which no topology of this run has`, {
      position: {field: '--waive'},
      hint: guess ? `did you mean "${guess}"?` : 'use a flow name from the topology',
    })
  }
}

/** One host against the rules (the --waive ids already checked). */
export function checkHost(i: HostInput, rules: LoadedRule[], opts: CheckOptions = {}): HostReport {
  try {
    if (i.topology.waivers.length > 0) {
      const ids = rules.map((r) => r.id)
      i.topology.waivers.forEach((w, n) =>
        checkWaiverId(w.id, ids, {file: i.topology.file, line: i.topology.waiverLines?.[n], field: `waivers.${n}.id`}),
      )
    }
    return evaluateHost(i.facts, i.topology, rules, {waive: opts.waive, hostLabel: i.label})
  } catch (error) {
    if (!opts.isolateErrors || !isTwError(error)) throw error
    const host = i.topology.host ?? i.label ?? i.facts.source
    return {host, kernel: i.facts.kernel?.raw ?? null, source: i.facts.source, findings: [], error: {code: error.code, message: error.oneLine()}}
  }
}

/** Where a host's findings point in SARIF: its topology file and the line of each flow. */
export interface HostLocation {
  host: string
  file: string
  flowLines: Record<string, number>
}

/** `host` is the name the report gives the host (HostReport.host), which the engine settles. */
export function locationOf(i: HostInput, host: string): HostLocation {
  return {
    host,
    file: i.topology.file,
    flowLines: Object.fromEntries(i.topology.flows.map((f, n) => [f.name, i.topology.flowLines?.[n] ?? 1])),
  }
}

/** A waiver naming no rule would silently waive nothing: say so, with the nearest id. */
function checkWaiverId(id: string, ids: string[], position: ErrorPosition): void {
  if (ids.includes(id)) return
  const guess = nearest(id, ids)
  throw new TwError('waiver.unknown-rule', `no rule "${id}" to waive`, {
    position,
    hint: guess ? `did you mean "${guess}"?` : 'list the rules with `twadvisor rules`',
  })
}
