import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {hostParams, runModel, type FlowModel} from '../model/index.js'
import type {Flow} from '../topology/types.js'
import {MAX_CLIENT_ADDRESSES, MAX_ENDPOINTS, MAX_SENDERS} from './plan.js'
import {patchFlow} from '../topology/patch.js'

/** A remedy the lab can apply: sysctls on the namespace playing this host, or flow changes. */
export interface LabRemedy {
  /** Where it came from: "rule <id>", "model", or "--remedy". */
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
 * The top remedy for the flow: the first one the rules offer that the lab can apply; without
 * rules (or when they offer none), what the model itself computes. Rules are loaded lazily and
 * a broken or absent rule set falls back to the model (said in `source`).
 */
export async function topRemedy(flow: Flow, facts: Facts, kernel: string): Promise<LabRemedy | null> {
  let note = ''
  try {
    const [{loadRules}, {evaluateHost}] = await Promise.all([import('../rules/load.js'), import('../rules/engine.js')])
    const report = evaluateHost(facts, {file: 'lab', waivers: [], flows: [flow], kernel}, loadRules())
    for (const f of report.findings) {
      if (f.flow !== flow.name) continue
      for (const r of f.remedies) {
        const flowOk = !r.flow || (Object.keys(r.flow).every((key) => LAB_FLOW_KEYS.has(key)) && withinCaps(r.flow))
        if ((r.sysctl || r.flow) && flowOk) {
          return {
            source: `rule ${f.id}`,
            ...(r.sysctl ? {sysctl: r.sysctl} : {}),
            ...(r.flow ? {flow: r.flow} : {}),
            why: r.why,
          }
        }
      }
    }
  } catch (error) {
    note = ` (rules unavailable: ${(error as Error).message.split('\n')[0]})`
  }
  const fromModel = modelRemedy(flow, facts, kernel)
  return fromModel ? {...fromModel, source: `model${note}`} : null
}

/** A remedy needing more namespaces than the lab builds would be measured capped: skip it. */
function withinCaps(patch: Record<string, unknown>): boolean {
  const n = (k: string) => (typeof patch[k] === 'number' ? (patch[k] as number) : 0)
  return n('client_addresses') <= MAX_CLIENT_ADDRESSES && n('senders') <= MAX_SENDERS && n('server_endpoints') <= MAX_ENDPOINTS
}

/** The remedy the model's own numbers give, for when no rule offers one. */
export function modelRemedy(flow: Flow, facts: Facts, kernel: string): LabRemedy | null {
  const m = modelFor(flow, facts, kernel)
  if (m.portExhaustion && flow.role === 'client') {
    if (!m.twReuseEffective && facts.sysctls['net.ipv4.tcp_timestamps'] !== '0') {
      return {source: 'model', sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: 'connect() may take a TIME_WAIT port toward this destination after tcp_tw_reuse_delay'}
    }
    if (m.suggestedPortRange) {
      return {
        source: 'model',
        sysctl: {'net.ipv4.ip_local_port_range': `${m.suggestedPortRange[0]} ${m.suggestedPortRange[1]}`},
        why: `${m.usablePortsNeeded} ports hold ${flow.qps}/s for the TIME_WAIT length`,
      }
    }
  }
  if (m.harmful && flow.role === 'server' && m.twBucketsForSafeReuse !== null) {
    return {
      source: 'model',
      sysctl: {'net.ipv4.tcp_max_tw_buckets': String(Math.max(1, m.twBucketsForSafeReuse))},
      why: 'fewer TIME_WAIT entries kept on the server, so a reused tuple rarely finds one (drops TIME_WAIT protection: last resort)',
    }
  }
  if ((m.harmful || m.portExhaustion) && m.addressesNeeded !== null && m.addressesNeeded <= MAX_CLIENT_ADDRESSES) {
    return {source: 'model', flow: {client_addresses: m.addressesNeeded, senders: Math.max(flow.senders, m.addressesNeeded)}, why: 'more source addresses, each with its own port space'}
  }
  return null
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
