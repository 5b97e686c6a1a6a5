import type {Flow} from '../topology/types.js'
import type {NatEvidence} from './conntrack.js'
import type {FlowGroup, FlowTable} from './group.js'

/**
 * From grouped sockets and counters to flows, each field with the evidence it stands on and a
 * confidence. Pure: what was read goes in, a topology-shaped answer comes out.
 */
export type Confidence = 'high' | 'medium' | 'low'

export interface Inferred {
  value: unknown
  evidence: string
  confidence: Confidence
}

export interface DiscoveredFlow {
  flow: Flow
  /** Evidence per topology field, in the order written. */
  fields: Record<string, Inferred>
  /** Fields this host cannot show; the user should fill them in. */
  unknown: {field: string; why: string}[]
  /**
   * Facts for the harm model's fields (nat.port_mode, client kernel, ...) that today's schema
   * does not take yet: written as comments and JSON, never as fields (see harmModelFields).
   */
  extra: Record<string, Inferred>
}

export interface Capture {
  source: string
  host?: string
  intervalSeconds: number
  table: FlowTable
  /** Whether connection ends were counted (sock_diag destroy events); saved inputs may lack them. */
  events: boolean
  countersStart: Record<string, number>
  countersEnd: Record<string, number>
  /** This host's ip_local_port_range. */
  portRange: [number, number]
  conntrack?: NatEvidence | null
}

export interface Discovery {
  source: string
  host?: string
  intervalSeconds: number
  floorQps: number
  flows: DiscoveredFlow[]
  /** Flows under the rate floor, folded into one comment. */
  folded: {role: string; endpoint: string; qps: number}[]
  nat: NatEvidence | null
  notes: string[]
}

/** TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN, include/net/tcp.h). */
const TIME_WAIT_SECONDS = 60
export const DEFAULT_FLOOR_QPS = 1

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

export function flowName(role: 'server' | 'client', endpoint: string): string {
  const safe = endpoint.replace(/[[\]]/g, '').replace(/[^A-Za-z0-9_.-]/g, '_')
  return `${role === 'server' ? 'in' : 'out'}-${safe.replace(/_(\d+)$/, '-$1')}`
}

function delta(c: Capture, key: string): number | null {
  const a = c.countersStart[key]
  const b = c.countersEnd[key]
  return a === undefined || b === undefined ? null : b - a
}

/** connections per second over the interval; how it was measured. */
function rateOf(g: FlowGroup, c: Capture): {qps: number; evidence: string; confidence: Confidence} {
  const t = c.intervalSeconds
  if (c.events) {
    return {
      qps: g.closes / t,
      evidence: `${g.closes} connections ended in ${round(t, 1)} s (sock_diag destroy events, each one counted)`,
      confidence: g.closes >= 30 ? 'high' : g.closes > 0 ? 'medium' : 'low',
    }
  }
  if (g.timeWaitRecent > 0) {
    return {qps: g.timeWaitRecent / t, evidence: `${g.timeWaitRecent} TIME_WAIT entries began in the last ${t} s (their timers)`, confidence: 'medium'}
  }
  return {
    qps: g.timeWait / TIME_WAIT_SECONDS,
    evidence: `${g.timeWait} TIME_WAIT entries / 60 s (assumes the traffic has run steadily for a minute)`,
    confidence: 'low',
  }
}

/** Who closes first: the side holding TIME_WAIT. Share of this interval's ends that left one here. */
function closerOf(g: FlowGroup, c: Capture): {value: 'server' | 'client'; evidence: string; confidence: Confidence} | null {
  const here = g.role
  const there = here === 'server' ? 'client' : 'server'
  if (g.timeWait === 0) {
    if (g.closes === 0) return null
    return {value: there, evidence: `${g.closes} connections ended and none left TIME_WAIT here: the ${there} closes first`, confidence: g.closes >= 10 ? 'high' : 'medium'}
  }
  if (c.events && g.closes > 0 && c.table.windowSeconds > 0) {
    const share = Math.min(1, g.timeWaitRecent / g.closes)
    const value = share >= 0.5 ? here : there
    return {
      value,
      evidence: `${Math.round(share * 100)} % of the ${g.closes} connections that ended in the interval left TIME_WAIT here (${g.timeWait} entries in all): the ${value} closes first`,
      confidence: share >= 0.9 || share <= 0.1 ? 'high' : 'medium',
    }
  }
  return {value: here, evidence: `${g.timeWait} TIME_WAIT entries held here: the ${here} closes first`, confidence: 'medium'}
}

export function infer(c: Capture, opts: {floorQps?: number} = {}): Discovery {
  const floorQps = opts.floorQps ?? DEFAULT_FLOOR_QPS
  const flows: DiscoveredFlow[] = []
  const folded: Discovery['folded'] = []
  const notes: string[] = []
  const t = c.intervalSeconds
  const paws = (delta(c, 'TcpExtPAWSEstab') ?? 0) + (delta(c, 'TcpExtPAWSTimewait') ?? 0)
  const groups = [...c.table.groups.values()].sort((a, b) => (a.role === b.role ? a.endpoint.localeCompare(b.endpoint) : a.role === 'server' ? -1 : 1))

  const serverClosers = groups.filter((g) => g.role === 'server' && g.timeWait > 0).length
  if (paws > 0 && serverClosers > 1) notes.push(`PAWS rejected ${paws} segments in the interval: a sender other than the tuple's last one, on one of ${serverClosers} server flows that hold TIME_WAIT`)
  for (const g of groups) {
    const rate = rateOf(g, c)
    const closer = closerOf(g, c)
    const kept = g.establishedKept
    const keepalive = kept > 0 && kept >= g.closes
    if (rate.qps < floorQps && !keepalive) {
      if (rate.qps > 0 || g.establishedEnd > 0) folded.push({role: g.role, endpoint: g.endpoint, qps: round(rate.qps)})
      continue
    }
    const fields: Record<string, Inferred> = {}
    const unknown: DiscoveredFlow['unknown'] = []
    const extra: Record<string, Inferred> = {}
    fields.role = {
      value: g.role,
      evidence:
        g.role === 'server'
          ? c.table.isListener(g.endpoint)
            ? `${g.endpoint} is a listening socket on this host`
            : `${g.endpoint} is a privileged port taking connections from unprivileged ones (no listener there now)`
          : `outgoing connections toward ${g.endpoint}, which does not listen here`,
      confidence: 'high',
    }
    fields.peer = {value: g.endpoint, evidence: g.role === 'server' ? 'the local listener' : 'the remote ip:port', confidence: 'high'}
    // qps must be > 0: a keep-alive flow with no new connection gets the most the interval allows.
    const qps = rate.qps > 0 ? rate.qps : 1 / t
    fields.qps = rate.qps > 0 ? {...rate, value: round(qps)} : {value: round(qps), evidence: `no connection ended in ${t} s: at most one per interval`, confidence: 'low'}
    if (closer) fields.closes_first = {...closer}
    else {
      fields.closes_first = {value: 'server', evidence: 'no connection ended and none is in TIME_WAIT: unknown, "server" written as a placeholder', confidence: 'low'}
      unknown.push({field: 'closes_first', why: 'no connection ended during the interval'})
    }
    fields.keepalive = {
      value: keepalive,
      evidence: keepalive
        ? `${kept} connections stayed open through the interval, ${g.closes} ended: connections are reused`
        : `${g.closes} connections ended in ${round(t, 1)} s and ${kept} stayed open through it: about one connection per request`,
      confidence: (keepalive && g.closes === 0) || (!keepalive && g.closes >= 30) ? 'high' : 'medium',
    }
    const closesFirst = fields.closes_first.value as 'server' | 'client'
    const addresses = Math.max(1, g.addresses.size)
    const parityShare = g.evenPorts + g.oddPorts > 0 ? Math.min(g.evenPorts, g.oddPorts) / (g.evenPorts + g.oddPorts) : 0
    const portsSeen = g.maxPort >= g.minPort ? `${g.minPort}-${g.maxPort}` : 'none'
    if (g.role === 'server') {
      fields.client_addresses = {value: addresses, evidence: `${g.addresses.size} distinct source addresses in the sockets seen`, confidence: 'high'}
      // A Linux client (4.6+) picks ports of its range start's parity while they are free, and
      // with the server closing first its own ports are always free (KERNEL.md, connect()):
      // both parities from few addresses means something between remaps ports (NAT, a proxy).
      // A direct Linux client shows none of the minority parity; 1 % (and a handful) is a sign.
      const minority = Math.min(g.evenPorts, g.oddPorts)
      const remapped = closesFirst === 'server' && parityShare >= 0.01 && minority >= 5
      // The PAWS counters are the host's: they point at a flow only when it is the one candidate.
      const pawsSeen = closesFirst === 'server' && paws > 0 && serverClosers === 1
      if (remapped || pawsSeen) {
        const why = [
          remapped ? `${Math.round(parityShare * 100)} % of the source ports have the minority parity (a Linux client uses one parity first; a NAT that remaps uses both)` : '',
          pawsSeen ? `PAWS rejected ${paws} segments in the interval (a different sender on a tuple this host still holds)` : '',
        ].filter(Boolean).join('; ')
        fields.senders = {value: addresses + 1, evidence: `at least ${addresses + 1}: ${why}`, confidence: 'low'}
        unknown.push({field: 'senders', why: `more hosts share these ${addresses} address(es) than this host can count: set the real number (check --hosts joins the clients' own discoveries)`})
        extra['nat.port_mode'] = {value: remapped ? 'random' : 'preserve', evidence: remapped ? 'source ports arrive with both parities: remapped' : 'source ports keep one parity: kept', confidence: 'low'}
      } else {
        fields.senders = {value: addresses, evidence: 'one host per source address: no sign of NAT or a proxy (source ports keep one parity, no PAWS rejects)', confidence: 'medium'}
      }
      fields.server_endpoints = {value: 1, evidence: 'one listener per flow', confidence: 'high'}
      extra.client_ports_seen = {value: portsSeen, evidence: 'lowest and highest client source port seen: a lower bound of their ip_local_port_range', confidence: 'low'}
      unknown.push({field: 'client_port_range', why: `the clients' ip_local_port_range is on the clients (ports seen: ${portsSeen})`})
    } else {
      fields.client_addresses = {value: addresses, evidence: `${g.addresses.size} local source address(es) toward ${g.endpoint}`, confidence: 'high'}
      fields.senders = {value: addresses, evidence: 'this host is the sender, one per source address', confidence: 'high'}
      fields.server_endpoints = {value: 1, evidence: 'one remote ip:port per flow', confidence: 'high'}
      const [lo, hi] = c.portRange
      extra.ports_used = {
        value: portsSeen,
        evidence: `source ports seen toward ${g.endpoint} (range ${lo}-${hi}); ${g.evenPorts} even, ${g.oddPorts} odd`,
        confidence: 'high',
      }
    }
    const flow: Flow = {
      name: flowName(g.role, g.endpoint),
      role: g.role,
      peer: g.endpoint,
      qps: fields.qps.value as number,
      closes_first: closesFirst,
      keepalive,
      client_addresses: fields.client_addresses.value as number,
      senders: fields.senders!.value as number,
      server_endpoints: 1,
    }
    flows.push({flow, fields, unknown, extra})
  }

  // Cross-check the sum against the kernel's own counters of new connections.
  const opens = (delta(c, 'TcpActiveOpens') ?? 0) + (delta(c, 'TcpPassiveOpens') ?? 0)
  const sum = [...c.table.groups.values()].reduce((s, g) => s + g.closes, 0)
  if (c.events && opens > 0) {
    const ratio = sum / opens
    const msg = `${sum} connection ends against ${opens} opens (ActiveOpens + PassiveOpens) in the interval`
    notes.push(ratio < 0.85 || ratio > 1.15 ? `${msg}: traffic is not steady, or some connections are long-lived; rates are what the interval showed` : msg)
  }
  if (c.table.skipped > 0) notes.push(`${c.table.skipped} socket lines could not be read and were skipped`)
  if (c.conntrack) {
    for (const n of c.conntrack.groups) {
      notes.push(
        `NAT: ${n.senders} sender(s) leave as ${n.natAddress} toward ${n.destination}, ${n.entries} conntrack entries (${n.timeWait} in TIME_WAIT), NAT ports ${n.minPort}-${n.maxPort} in use, ${n.preserved} kept the sender's port`,
      )
    }
  }
  return {source: c.source, host: c.host, intervalSeconds: t, floorQps, flows, folded, nat: c.conntrack ?? null, notes}
}
