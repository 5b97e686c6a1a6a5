import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {hostParams, runModel, type FlowModel} from '../model/index.js'
import type {Flow} from '../topology/types.js'
import {MAX_CLIENT_ADDRESSES, MAX_ENDPOINTS, MAX_SENDERS} from './plan.js'
import {patchFlow} from '../topology/patch.js'

/** A remedy the lab can apply: sysctls on the namespace playing this host, or flow changes. */
export interface LabRemedy {
  /** Where it came from: "rule <id>" or "--remedy" (or a test's label). */
  source: string
  sysctl?: Record<string, string>
  flow?: Record<string, number | string | boolean | number[]>
  why: string
}

/** Flow fields the lab can rebuild (a remedy that changes anything else is not measurable here). */
const LAB_FLOW_KEYS = new Set(['client_addresses', 'server_endpoints', 'client_port_range', 'qps', 'senders', 'nat.port_range', 'nat.conntrack_time_wait'])

export function applyRemedy(flow: Flow, facts: Facts, remedy: LabRemedy | null): {flow: Flow; facts: Facts} {
  if (!remedy) return {flow, facts}
  return {
    flow: remedy.flow ? patchFlow(flow, remedy.flow) : flow,
    facts: remedy.sysctl ? {...facts, sysctls: {...facts.sysctls, ...remedy.sysctl}} : facts,
  }
}


/** The model for one flow on the lab's kernel. */
export function modelFor(flow: Flow, facts: Facts, kernel: string): FlowModel {
  return runModel(hostParams(facts, kernel), [flow]).flows[0]!
}

/**
 * The top remedy for the flow: the first verified remedy (the rule engine re-runs the model
 * with each remedy applied and keeps only those that clear the finding) that the lab can
 * apply, in the rules' own order. One ranking for the whole product: the lab has none of its
 * own. No rule, or none applicable here: null (the report says the lab has nothing to apply).
 */
export async function topRemedy(flow: Flow, facts: Facts, kernel: string): Promise<LabRemedy | null> {
  const [{loadRules}, {evaluateHost}] = await Promise.all([import('../rules/load.js'), import('../rules/engine.js')])
  const report = evaluateHost(facts, {file: 'lab', waivers: [], flows: [flow], kernel}, loadRules())
  for (const f of report.findings) {
    if (f.flow !== flow.name) continue
    for (const r of f.remedies) {
      if (labCanApply(r)) {
        return {
          source: `rule ${f.id}`,
          ...(r.sysctl ? {sysctl: r.sysctl} : {}),
          ...(r.flow ? {flow: r.flow} : {}),
          why: r.why,
        }
      }
    }
  }
  return null
}

/** Sysctls, or flow changes the lab can rebuild within its caps. */
export function labCanApply(r: {sysctl?: Record<string, string>; flow?: Record<string, unknown>}): boolean {
  if (!r.sysctl && !r.flow) return false
  return !r.flow || (Object.keys(r.flow).every((key) => LAB_FLOW_KEYS.has(key)) && withinCaps(r.flow))
}

/** A remedy needing more namespaces than the lab builds would be measured capped: skip it. */
function withinCaps(patch: Record<string, unknown>): boolean {
  const n = (k: string) => (typeof patch[k] === 'number' ? (patch[k] as number) : 0)
  return n('client_addresses') <= MAX_CLIENT_ADDRESSES && n('senders') <= MAX_SENDERS && n('server_endpoints') <= MAX_ENDPOINTS
}

/** `--remedy KEY=VALUE` (repeatable): sysctls for this host's namespace, as given. */
export function parseRemedyArgs(list: string[]): LabRemedy | null {
  if (list.length === 0) return null
  const sysctl: Record<string, string> = {}
  for (const item of list) {
    const i = item.indexOf('=')
    const key = item.slice(0, i).trim()
    if (i <= 0 || !/^net\.[a-z0-9_.]+$/.test(key)) {
      throw new TwError('lab.remedy', `--remedy "${item}" is not KEY=VALUE with a net.* sysctl key`, {
        hint: 'e.g. --remedy net.ipv4.tcp_tw_reuse=1',
        position: {field: '--remedy'},
      })
    }
    sysctl[key] = item.slice(i + 1).trim()
  }
  return {source: '--remedy', sysctl, why: 'given on the command line'}
}
