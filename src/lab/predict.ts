import type {Facts} from '../facts/types.js'
import {DEFAULT_PORT_RANGE, TCP_TIMEWAIT_SECONDS} from '../model/constants.js'
import type {FlowModel} from '../model/types.js'
import type {Flow, NatSpec} from '../topology/types.js'
import {modelFor} from './remedy.js'
import {hostParams, isLoopbackPeer as isLoopbackAddress} from '../model/host.js'
import {predictFlow} from '../model/predict.js'

/**
 * The lab's one entry to the model's stall-share prediction.
 *
 * The stall share, reset and timeout shares come from the harm model's predictFlow
 * (src/model/predict.ts). What the lab adds: the warm-up each mechanism needs before it is
 * steady, and for a client running out of ports the share in the window actually measured
 * (the first connects of a fresh namespace still find free ports).
 */

/** How a NAT picks the source port it sends from (topology `nat.port_mode`). */
export type PortMode = 'preserve' | 'random' | 'fully-random'

/** Fields the new topology adds (issue 10, item 1), read here without depending on them. */
export type LabNat = NatSpec & {port_mode?: PortMode}
export type LabFlow = Omit<Flow, 'nat'> & {
  nat?: LabNat
  harm_budget?: number
  /**
   * Lab only: each sender's own port range (sender i uses entry i). Disjoint ranges keep a
   * preserving NAT from ever remapping one sender onto another's port.
   */
  sender_port_ranges?: [number, number][]
}

/** Share of connects that may stall before a flow is harmful (the product's harm budget). */
export const HARM_BUDGET = 0.001


/** What each mechanism of the harm model means, for the lab's report. */
const MECHANISM_TEXT: Record<string, string> = {
  none: 'nothing stalls',
  'fast-resend': 'rejected SYNs are answered by a stale ACK and RST, and the SYN resent within milliseconds',
  'server-tw-reject': 'PAWS or sequence rejects, stale ACK, RST, SYN resent; a second reject costs the 1 s retransmit',
  'rfc1337-stuck': 'tcp_rfc1337=1 keeps the stale entry after the client\'s RST: the client waits its SYN retransmit',
  'nat-drop': 'the NAT has no free tuple and drops the SYN',
  'client-exhaustion': 'connect() fails with EADDRNOTAVAIL',
}

export interface StallPrediction {
  stall_share: number
  reset_share: number
  timeout_share: number
  harm_budget: number
  mechanism: string
  assumptions: string[]
  /** Seconds of traffic before the mechanism reaches its steady state (the lab's warm-up). */
  steady_after_seconds: number
  /**
   * Share of connects one stuck tuple fails (FlowModel.stuckTupleShare), 0 where none can stick.
   * Not part of stall_share: whether a tuple sticks is history, so the lab judges stall_share on
   * the other ports and checks what stuck ports cost against this.
   */
  stuck_tuple_share: number
}

export interface Window {
  /** Seconds of traffic before the measured window starts. */
  warmupSeconds: number
  seconds: number
}

/** The flow's peer is a loopback address (the model's test: 127/8, ::1, v4-mapped, localhost). */
export function isLoopbackPeer(flow: Pick<Flow, 'peer'>): boolean {
  return isLoopbackAddress(flow.peer)
}

/** Does the NAT send a sender's SYN from a port other than the sender's own? */
export function natRemaps(flow: LabFlow): boolean {
  const nat = flow.nat
  if (!nat) return false
  const mode = nat.port_mode ?? 'preserve'
  if (mode !== 'preserve') return true
  // Preserve keeps the sender's port only when it lies inside the pool, and only when no other
  // sender holds the same tuple: senders that share a range clash and are remapped.
  const own = flow.sender_port_ranges
  const ranges = own && own.length >= flow.senders ? own.slice(0, flow.senders) : [flow.client_port_range ?? DEFAULT_PORT_RANGE]
  const outside = ranges.some((r) => r[0] < nat.port_range[0] || r[1] > nat.port_range[1])
  const clash = flow.senders > 1 && (ranges.length < flow.senders || ranges.some((a, i) => ranges.some((b, j) => i < j && a[0] <= b[1] && b[0] <= a[1])))
  return outside || clash
}

/**
 * Connects that succeed in [w, w + t] for one tuple space when the client holds TIME_WAIT:
 * the first `ports` connects take every port, then each port comes back `hold` seconds after
 * its last use and is taken by the next attempt (attempts never stop), so S(t) below counts
 * successes from the start.
 */
export function exhaustedSuccesses(ports: number, qps: number, holdSeconds: number, w: Window): number {
  const s = (t: number) => ports * Math.floor(t / holdSeconds) + Math.min(qps * (t % holdSeconds), ports)
  return s(w.warmupSeconds + w.seconds) - s(w.warmupSeconds)
}

export function predictStallShare(flowIn: Flow, facts: Facts, kernel: string, window?: Window): StallPrediction {
  const flow = flowIn as LabFlow
  const budget = flow.harm_budget ?? HARM_BUDGET
  const m: FlowModel = modelFor(flowIn, facts, kernel)
  const assumptions: string[] = []
  const out = (stall: number, mechanism: string, steady: number, reset = 0, timeout = 0, stuck = 0): StallPrediction => ({
    stall_share: clamp(stall),
    reset_share: clamp(reset),
    timeout_share: clamp(timeout),
    harm_budget: budget,
    mechanism,
    assumptions,
    steady_after_seconds: Math.ceil(steady),
    stuck_tuple_share: stuck,
  })

  if (flow.closes_first === 'client') {
    const sysctls = facts.sysctls
    const reuse = Number(sysctls['net.ipv4.tcp_tw_reuse'] ?? '2')
    const loopback = isLoopbackPeer(flow)
    if (m.twReuseEffective || (loopback && reuse === 2 && flow.role === 'client')) {
      return out(0, `tcp_tw_reuse=${reuse}${loopback ? ' toward a loopback peer' : ''}: connect() takes TIME_WAIT ports`, 2)
    }
    if (!m.portExhaustion || m.connectsBeforeFailure === null) return out(0, 'client holds TIME_WAIT within its port range', 2)
    const ports = m.connectsBeforeFailure
    const q = m.qpsPerTupleSpace
    const fillSeconds = ports / q
    const w = window ?? {warmupSeconds: 0, seconds: TCP_TIMEWAIT_SECONDS}
    const ok = exhaustedSuccesses(ports, q, TCP_TIMEWAIT_SECONDS, w)
    assumptions.push(`${ports} usable ports per tuple space, each back ${TCP_TIMEWAIT_SECONDS} s after its last use`)
    return out(1 - ok / (q * w.seconds), 'client port exhaustion: connect() fails with EADDRNOTAVAIL', fillSeconds + 1)
  }

  // Server closes first: harm needs a SYN from a different sender on a TIME_WAIT tuple.
  // The harm model's own prediction (src/model/predict.ts): what the kernel does with each SYN on
  // a TIME_WAIT tuple, what a rejection costs, and a NAT that runs out of tuples. The lab adds the
  // time each mechanism needs to reach its steady state.
  const v2 = predictFlow(hostParams(facts, kernel), flowIn, {harmBudget: budget})
  assumptions.push(...v2.assumptions, `${pct(v2.collision_share)} of SYNs land on a tuple in TIME_WAIT; ${pct(v2.reject_share)} are rejected`)
  // Behind a port-preserving NAT whose senders clash, the holes (NAT tuples freed while the server
  // still holds them) build up over the server's TIME_WAIT, not over a sender's own reuse interval.
  const steady = flow.nat && m.natHoles > 0 ? m.timeWaitSeconds : (m.natReuseSeconds ?? m.reuseIntervalSeconds)
  const cross = flow.nat ? natRemaps(flow) : flow.senders > flow.client_addresses
  if ((!cross || m.collisionShare === 0) && v2.mechanism !== 'nat-drop') {
    const why = flow.nat ? 'NAT keeps each sender\'s own port: a sender re-using its own tuple is accepted (ISN and timestamp keyed on the 4-tuple)' : 'one sender per address: its own re-used tuples are accepted'
    // What shows here is a sender meeting its own tuples: steady once its ports come round.
    const own = flow.nat && !cross ? ownReuseSeconds(flow) : steady
    return out(0, why, Math.min(own, TCP_TIMEWAIT_SECONDS) + 1)
  }
  return out(v2.stall_share, `${v2.mechanism}: ${MECHANISM_TEXT[v2.mechanism] ?? v2.mechanism}`, Math.min(steady, TCP_TIMEWAIT_SECONDS) + 1, v2.reset_share, v2.timeout_share, m.stuckTupleShare)
}

/** Seconds before a sender behind the NAT re-uses its own port (5.18+: about half its range). */
function ownReuseSeconds(flow: LabFlow): number {
  const perSender = flow.qps / Math.max(1, flow.senders) / Math.max(1, flow.server_endpoints)
  const r = flow.sender_port_ranges?.[0] ?? flow.client_port_range ?? DEFAULT_PORT_RANGE
  return (r[1] - r[0] + 1) / 2 / Math.max(perSender, 1e-9)
}

const clamp = (x: number) => Math.min(1, Math.max(0, x))
const pct = (x: number) => `${Math.round(x * 1000) / 10} %`
