import {parseKernel, type KernelVersion} from '../facts/kernel.js'
import type {Flow} from '../topology/types.js'
import {exhaustionShare} from './client.js'
import {DEFAULT_PORT_RANGE, TCP_TIMEWAIT_SECONDS} from './constants.js'
import {hasFastSynResend, natEvictsClosing, tsOffsetScheme} from './gates.js'
import {twReuseApplies, type HostParams} from './host.js'
import {identity, unrelatedShare} from './identity.js'
import {preserveHoles, remapPool, type NatRegime} from './nat.js'
import {collisionShare, firstParityPorts, portSelection, reuseIntervalConnects, usablePorts} from './ports.js'
import {recovery} from './recovery.js'
import {bucketCap, rejectedShare} from './server.js'

/**
 * The harm budget: the share of a flow's connects that may stall (fail, or take over 500 ms)
 * before the flow counts as harmful. One product number shared by the model, the rules, the
 * chart, generate and the lab; a flow may override it with `harm_budget`.
 */
export const HARM_BUDGET = 0.001

/** tcp_syn_retries default (6): a connect makes 7 attempts before it times out. */
const SYN_ATTEMPTS = 7

export type Mechanism =
  | 'none'
  | 'fast-resend'
  | 'server-tw-reject'
  | 'nat-drop'
  | 'nat-exhausted'
  | 'client-exhaustion'
  | 'rfc1337-stuck'

/** What the model predicts for one flow (snake_case: the lab prints it as JSON). */
export interface Prediction {
  /** Connects that fail or take over 500 ms, 0..1. */
  stall_share: number
  /** Connects that give up (every SYN attempt lost), 0..1. */
  timeout_share: number
  /** Connects whose first SYN drew a stale ACK answered by the client's RST, 0..1. */
  reset_share: number
  /** Connects whose first SYN the server rejected on a TIME_WAIT tuple, 0..1. */
  reject_share: number
  /** New SYNs that meet a tuple the server holds in TIME_WAIT, 0..1. */
  collision_share: number
  /** The mechanism behind most of the stall share (or what the collisions cost when they are harmless). */
  mechanism: Mechanism
  /** What the prediction assumed for what the topology and the facts do not say. */
  assumptions: string[]
  /** The highest rate at which stall_share stays within the budget; null = no limit. */
  safe_qps: number | null
  harm_budget: number
  harmful: boolean
}

export interface PredictContext {
  /** Overrides the flow's harm_budget and HARM_BUDGET. */
  harmBudget?: number
}

/** Overrides the model's own re-runs use (remedy values found by bisection). */
export interface AssessOverrides {
  /** The flow's rate (safe_qps bisects on it without copying the flow per step). */
  qps?: number
  /**
   * What assess works out from the host and flow alone, the same at every rate, worked out once
   * by a caller that assesses one flow on one host many times (the bisection): its senderPorts
   * and twReuseApplies.
   */
  fixed?: {sender: SenderPorts; twReuse: boolean}
  maxTwBuckets?: number | null
  timeWaitSeconds?: number
  rfc1337?: number
}

/** Every number behind one prediction (internal to src/model: flow.ts builds FlowModel from it). */
export interface Assessment {
  stallShare: number
  timeoutShare: number
  resetShare: number
  rejectShare: number
  collisionShare: number
  /** Stalls from rejected SYNs on the server's TIME_WAIT tuples. */
  twStallShare: number
  natDropShare: number
  exhaustionShare: number
  mechanism: Mechanism
  /** Share of colliding SYNs from someone unrelated to the tuple's last owner. */
  unrelatedShare: number
  /** Share of new SYNs that come back on the sender's own tuple while the server holds it (NAT). */
  senderReuseShare: number
  natRegime: NatRegime | null
  natRemapShare: number
  natHoles: number
  /** See FlowModel.stuckTupleShare. */
  stuckTupleShare: number
  natCapacityQps: number | null
  natReuseSeconds: number | null
  paws: boolean
  fastResend: boolean
  twReuseEffective: boolean
  /** Client closes first: the rate past which connect() fails (ports / hold, all tuple spaces); null = none. */
  exhaustionCapacityQps: number | null
}

export function flowBudget(flow: Flow, ctx?: PredictContext): number {
  return ctx?.harmBudget ?? flow.harm_budget ?? HARM_BUDGET
}

function clientKernelOf(host: HostParams, flow: Flow): KernelVersion | null {
  if (flow.role === 'client') return host.kernel
  return flow.client_kernel ? declaredKernel(flow.client_kernel) : host.kernel
}

function natKernelOf(host: HostParams, flow: Flow): KernelVersion | null {
  if (flow.nat?.kernel) return declaredKernel(flow.nat.kernel)
  return flow.role === 'nat' ? host.kernel : null
}

/** A flow's declared kernel, parsed once per release string (assess asks per bisection step); shared, never changed. */
const declaredKernels = new Map<string, KernelVersion | null>()
function declaredKernel(raw: string): KernelVersion | null {
  let k = declaredKernels.get(raw)
  if (k === undefined) {
    // Bounded: a long-lived caller (the wizard, tests) sees many; one run sees a few.
    if (declaredKernels.size >= 1024) declaredKernels.clear()
    const parsed = parseKernel(raw)
    declaredKernels.set(raw, (k = parsed))
  }
  return k
}

/** The sender's port range as the model sees it, and how many of its ports rotate toward one destination. */
interface SenderPorts {
  range: [number, number]
  usable: number
  rotation: number
}

function senderPorts(host: HostParams, flow: Flow): SenderPorts {
  const range = flow.role === 'client' ? host.portRange : (flow.client_port_range ?? DEFAULT_PORT_RANGE)
  const reserved = flow.role === 'client' ? host.reservedPorts : []
  const usable = usablePorts(range, reserved)
  const sel = portSelection(host.kernel).selection
  return {range, usable, rotation: reuseIntervalConnects(sel, usable, firstParityPorts(range, reserved))}
}

/**
 * The pure prediction for one flow at its declared rate: the stall, timeout, reset and reject
 * shares and the mechanism. No allocation beyond the result, so safe_qps can bisect on it.
 */
export function assess(host: HostParams, flow: Flow, over: AssessOverrides = {}, into?: Assessment): Assessment {
  const thisHostCloses = flow.role !== 'nat' && flow.role === flow.closes_first
  const timeWaitSeconds = over.timeWaitSeconds ?? (thisHostCloses ? host.timeWaitSeconds : TCP_TIMEWAIT_SECONDS)
  const spaces = flow.client_addresses * flow.server_endpoints
  // The only reads of the flow's rate in assess and what it calls (keep `over.qps` in step).
  const flowQps = over.qps ?? flow.qps
  const qps = flowQps / spaces
  const sendersPerAddress = Math.max(1, flow.senders / flow.client_addresses)
  const isServer = flow.role === 'server'
  // What we know of the other side only when this host is it; otherwise the kernel defaults.
  const serverTimestamps = isServer ? host.timestamps : 1
  const rfc1337 = over.rfc1337 ?? (isServer ? host.rfc1337 : 0)
  const buckets = over.maxTwBuckets !== undefined ? over.maxTwBuckets : isServer ? host.maxTwBuckets : null
  const clientKernel = clientKernelOf(host, flow)
  const clientTimestamps = flow.role === 'client' ? host.timestamps : (flow.client_timestamps ?? 1)
  const id = identity(serverTimestamps, clientTimestamps, tsOffsetScheme(clientKernel))
  const fastResend = hasFastSynResend(clientKernel)
  const rstClears = rfc1337 === 0
  const sel = portSelection(host.kernel).selection
  const sender = over.fixed?.sender ?? senderPorts(host, flow)
  const perSenderQps = flowQps / flow.senders / flow.server_endpoints
  // A sender's own ports come back on their own 4-tuple (accepted unless offsets are per connection).
  const ownShare = collisionShare(sel, sender.rotation, perSenderQps, timeWaitSeconds)

  let collision = 0
  let rejected = 0
  let unrelated = 0
  let tuplesPerSpace = sender.rotation
  let natDrop = 0
  let natRegime: NatRegime | null = null
  let natRemapShare = 0
  let natHoles = 0
  let stuckTupleShare = 0
  let natCapacityQps: number | null = null
  let natReuseSeconds: number | null = null
  let senderReuseShare = 0
  // Preserve NAT: the part of `rejected` from remapped SYNs, and how often a remapped SYN is rejected.
  let remapRejected = 0
  let remapRejectRate = 0

  if (flow.nat) {
    const pool = usablePorts(flow.nat.port_range, [])
    const ct = flow.nat.conntrack_time_wait
    const evicts = natEvictsClosing(natKernelOf(host, flow))
    const inPool = sender.range[0] >= flow.nat.port_range[0] && sender.range[1] <= flow.nat.port_range[1]
    natCapacityQps = (pool / ct) * spaces
    if (flow.nat.port_mode === 'preserve' && inPool) {
      const h = preserveHoles({qps, senders: sendersPerAddress, senderPorts: sender.rotation, poolPorts: pool, conntrackSeconds: ct, timeWaitSeconds, evicts})
      natRemapShare = h.remapShare
      natHoles = h.holes
      natRegime = h.dropShare > 0 ? 'exhausted' : 'free'
      natReuseSeconds = h.ownReuseSeconds
      natDrop = h.remapShare * h.dropShare
      // Rejected SYNs land on the holes (or the recycled free tuples): that many TIME_WAIT entries share them.
      tuplesPerSpace = Math.max(1, h.holeShare * h.freePorts)
      if (flow.closes_first === 'server') {
        const remapCollision = h.remapShare * bucketCap(h.holeShare, buckets, h.freePorts * spaces) * (1 - h.dropShare)
        const own = (1 - h.remapShare) * bucketCap(ownShare, buckets, sender.rotation * spaces)
        senderReuseShare = own
        collision = remapCollision + own
        const remapUnrelated = unrelatedShare(id, sendersPerAddress, true)
        const ownUnrelated = id.sameSenderOwnTupleRelated ? 0 : 1
        remapRejected = rejectedShare(remapCollision, remapUnrelated, rstClears)
        remapRejectRate = rejectedShare(bucketCap(h.holeShare, buckets, h.freePorts * spaces) * (1 - h.dropShare), remapUnrelated, rstClears)
        rejected = remapRejected + rejectedShare(own, ownUnrelated, rstClears)
        // A stuck tuple (FlowModel.stuckTupleShare): the NAT keeps a sender's port on a tuple the
        // server holds for another, unrelated sender (a hole in the senders' own range), PAWS
        // rejects the SYN, tcp_rfc1337=1 keeps and re-arms the entry, and the sender is back on
        // that port before the 60 s run out. Lab, 6.18, issue 10's Why B: one port failed all
        // 13 of its connects from 21 s to the end of a 180 s run; the next run had none.
        if (!rstClears && id.paws && remapUnrelated > 0 && h.remapShare > 0 && h.ownReuseSeconds < timeWaitSeconds) {
          stuckTupleShare = 1 / (sendersPerAddress * sender.rotation * spaces)
        }
        unrelated = collision > 0 ? (remapCollision * remapUnrelated + own * ownUnrelated) / collision : remapUnrelated
      }
    } else {
      // Every connection remapped: random, fully-random, or a pool that does not hold the senders' ports.
      const p = remapPool(pool, qps, ct, timeWaitSeconds, evicts)
      natRegime = p.regime
      natReuseSeconds = p.reuseSeconds
      natRemapShare = 1
      natDrop = p.dropShare
      tuplesPerSpace = pool
      if (flow.closes_first === 'server') {
        const c = bucketCap(p.collisionShare, buckets, pool * spaces) * (1 - p.dropShare)
        unrelated = unrelatedShare(id, sendersPerAddress, true)
        collision = c
        rejected = rejectedShare(c, unrelated, rstClears)
        senderReuseShare = 0
      }
    }
  } else if (flow.closes_first === 'server') {
    // No NAT: every sender picks its own ports; a tuple last used by another sender behind the
    // same address (a proxy, a shared address) is unrelated.
    collision = bucketCap(collisionShare(sel, sender.rotation, qps, timeWaitSeconds), buckets, sender.rotation * spaces)
    unrelated = unrelatedShare(id, sendersPerAddress, false)
    rejected = rejectedShare(collision, unrelated, rstClears)
  }

  let twStall = 0
  let resetShare = 0
  if (rejected > 0) {
    const rejectsPerTupleQps = (qps * rejected) / Math.max(1, tuplesPerSpace)
    const r = recovery({fastResend, paws: id.paws, rstClears, rejectedShare: rejected, rejectsPerTupleQps})
    twStall = rejected * r.stallGivenReject
    resetShare = rejected * (1 - r.rateLimited)
    if (remapRejected > 0) {
      // A remapped SYN that was rejected is resent after the client's RST, and conntrack kills an
      // entry whose last packet from that side was an RST when a SYN reopens it
      // (nf_conntrack_proto_tcp.c, "Attempt to reopen a closed/aborted connection"): the resend
      // goes through the NAT afresh and, its sender's port still held by the other sender, is
      // remapped again. So it is rejected as often as a remapped SYN, not as the average connect
      // (half of which keep their own, accepted, tuple). Lab, 6.18, issue 10's Why B: 312 PAWS
      // rejects and 18 stalls in 18,496 connects, where the average would give about 4.
      const rr = recovery({fastResend, paws: id.paws, rstClears, rejectedShare: remapRejectRate, rejectsPerTupleQps})
      twStall += remapRejected * (rr.stallGivenReject - r.stallGivenReject)
    }
  }

  // Client closes first: the client holds TIME_WAIT and its ports toward this destination run out.
  let exhaustion = 0
  let exhaustionCapacityQps: number | null = null
  let twReuseEffective = false
  if (flow.closes_first === 'client') {
    // tcp_tw_reuse=1 for any peer, =2 for loopback peers only (4.19+, host.ts); both need
    // timestamps (tcp_twsk_unique). We know the client's settings only when this host is the client.
    twReuseEffective = flow.role === 'client' && host.timestamps > 0 && (over.fixed?.twReuse ?? twReuseApplies(host, flow))
    // Past tcp_max_tw_buckets a closing socket skips TIME_WAIT. The cap is per namespace: the share
    // of this flow's closes that skip it comes from all the host's flows (host.ts, modelHost).
    // The only read of twOverflowShare in assess (and flow.ts): keep flow.ts readsOverflowShare in step.
    const keptShare = flow.role === 'client' && host.maxTwBuckets !== null ? 1 - (host.twOverflowShare ?? 0) : 1
    const holdSeconds = (twReuseEffective ? host.twReuseDelayMs / 1000 : timeWaitSeconds) * keptShare
    exhaustion = keptShare <= 1e-9 ? 0 : exhaustionShare(qps, sender.usable, holdSeconds)
    exhaustionCapacityQps = keptShare <= 1e-9 ? null : (sender.usable / holdSeconds) * spaces
  }

  const stallShare = 1 - (1 - exhaustion) * (1 - natDrop) * (1 - twStall)
  const timeoutShare = natDrop > 0 ? natDrop ** SYN_ATTEMPTS : 0
  let mechanism: Mechanism = 'none'
  const top = Math.max(exhaustion, natDrop, twStall)
  if (top > 1e-12) {
    if (top === exhaustion) mechanism = 'client-exhaustion'
    else if (top === natDrop) mechanism = 'nat-drop'
    else mechanism = rstClears ? 'server-tw-reject' : 'rfc1337-stuck'
  } else if (rejected > 0) {
    mechanism = 'fast-resend'
  }
  if (into !== undefined) {
    // The bisection's scratch (crossingOf): the same fields, written in place.
    into.stallShare = stallShare
    into.timeoutShare = timeoutShare
    into.resetShare = resetShare
    into.rejectShare = rejected
    into.collisionShare = collision
    into.twStallShare = twStall
    into.natDropShare = natDrop
    into.exhaustionShare = exhaustion
    into.mechanism = mechanism
    into.unrelatedShare = unrelated
    into.senderReuseShare = senderReuseShare
    into.natRegime = natRegime
    into.natRemapShare = natRemapShare
    into.natHoles = natHoles
    into.natCapacityQps = natCapacityQps
    into.natReuseSeconds = natReuseSeconds
    into.paws = id.paws
    into.fastResend = fastResend
    into.twReuseEffective = twReuseEffective
    into.exhaustionCapacityQps = exhaustionCapacityQps
    return into
  }
  return {
    stallShare,
    timeoutShare,
    resetShare,
    rejectShare: rejected,
    collisionShare: collision,
    twStallShare: twStall,
    natDropShare: natDrop,
    exhaustionShare: exhaustion,
    mechanism,
    unrelatedShare: unrelated,
    senderReuseShare,
    natRegime,
    natRemapShare,
    natHoles,
    stuckTupleShare,
    natCapacityQps,
    natReuseSeconds,
    paws: id.paws,
    fastResend,
    twReuseEffective,
    exhaustionCapacityQps,
  }
}

/** What the prediction assumed, in the user's terms (built once per flow, not per bisection step). */
export function assumptionsFor(host: HostParams, flow: Flow): string[] {
  const out: string[] = []
  const serverSide = flow.closes_first === 'server'
  if (flow.role !== 'client' && !flow.client_kernel && (serverSide || flow.nat)) {
    out.push(`the clients run this host's kernel (${host.kernel?.raw ?? 'unknown, taken as current'}): its timestamp offsets and SYN resend`)
  }
  if (flow.role !== 'client' && flow.client_timestamps === undefined && serverSide) out.push('the clients send TCP timestamps (tcp_timestamps=1)')
  if (flow.role !== 'server' && serverSide) out.push('the server uses the kernel defaults tcp_timestamps=1, tcp_rfc1337=0 and no tcp_max_tw_buckets below its tuples')
  if (flow.nat && !flow.nat.kernel && flow.role !== 'nat') out.push('the NAT runs 6.5 or later (it evicts closing conntrack entries when its pool is full)')
  if (flow.role !== 'client' && !flow.client_port_range && (flow.nat?.port_mode === 'preserve' || (!flow.nat && serverSide))) {
    out.push(`the clients use the default ip_local_port_range ${DEFAULT_PORT_RANGE[0]}-${DEFAULT_PORT_RANGE[1]}`)
  }
  if (flow.senders > flow.client_addresses) out.push('the senders share the addresses and the rate equally')
  return out
}

/**
 * The largest rate at which `stallAt` stays within `budget`; null when even 10^9 conn/s does.
 * stallAt is non-decreasing in the rate (test/model/properties.test.ts), so bisection finds the
 * crossing: bracket by doubling from `start`, then halve to a relative 1e-6 (absolute 1e-9).
 */
export function safeRate(stallAt: (qps: number) => number, budget: number, start: number): number | null {
  const CEILING = 1e9
  if (stallAt(CEILING) <= budget) return null
  let lo = 0
  let hi = Math.max(start, 1e-3)
  while (stallAt(hi) <= budget && hi < CEILING) {
    lo = hi
    hi *= 2
  }
  // Relative 1e-6, or 1e-9 conn/s absolute when the limit is 0 (no usable port); bounded either way.
  for (let i = 0; i < 200 && hi - lo > Math.max(hi * 1e-6, 1e-9); i++) {
    const mid = (lo + hi) / 2
    if (stallAt(mid) <= budget) lo = mid
    else hi = mid
  }
  return lo
}

/**
 * safe_qps: the highest rate within the budget. Stalls from TIME_WAIT rejections grow smoothly
 * with the rate, so their crossing of the budget is found by bisection. A hard capacity (the
 * client's ports, a NAT's free tuples) is a limit at its edge: past it every extra connect fails,
 * so the safe rate is the capacity itself (exact for the ports, by bisection on the first
 * dropped SYN for the NAT), stricter than the budget by at most the budget.
 */
export function safeQps(host: HostParams, flow: Flow, budget: number, a: Assessment = assess(host, flow)): number | null {
  const crossing = crossingOf(host, flow, budget)
  const cap = a.exhaustionCapacityQps
  if (cap === null) return crossing
  return crossing === null ? cap : Math.min(cap, crossing)
}

/**
 * The bisection of safeQps, once per (host settings, flow, budget): the engine models the same
 * flow on the same settings again (the host's second pass with its TIME_WAIT overflow share, a
 * judged remedy's re-run), and the bisection is most of a flow's model. Stalls from rejections
 * and NAT drops do not depend on twOverflowShare (it only keeps client ports), so the settings
 * are compared without it.
 */
const crossings = new Map<string, WeakMap<Flow, Map<number, number | null>>>()
const signatures = new WeakMap<HostParams, [server: string, other: string]>()
const MAX_SETTINGS = 64
/**
 * Settings assess reads only for a server flow (rfc1337, buckets) or only for the exhaustion
 * share (maxTwBuckets in keptShare), which the crossing does not use: left out of the other
 * flows' signature, so a judged tcp_max_tw_buckets or tcp_rfc1337 re-bisects the server flows only.
 */
const SERVER_ONLY = new Set(['maxTwBuckets', 'rfc1337'])

/**
 * `host` with the overflow share modelHost's second pass sets: the same settings signature (it
 * leaves the share out), carried over rather than worked out again for every such copy.
 */
export function withOverflowShare(host: HostParams, twOverflowShare: number): HostParams {
  const out = Object.assign({}, host, {twOverflowShare})
  const sigs = signatures.get(host)
  if (sigs !== undefined) signatures.set(out, sigs)
  return out
}

function crossingOf(host: HostParams, flow: Flow, budget: number): number | null {
  let sigs = signatures.get(host)
  if (sigs === undefined) {
    const server = JSON.stringify(host, (k, v: unknown) => (k === 'twOverflowShare' ? undefined : v))
    const other = JSON.stringify(host, (k, v: unknown) => (k === 'twOverflowShare' || SERVER_ONLY.has(k) ? undefined : v))
    signatures.set(host, (sigs = [`s${server}`, `o${other}`]))
  }
  const sig = flow.role === 'server' ? sigs[0] : sigs[1]
  let byFlow = crossings.get(sig)
  if (!byFlow) {
    // Bounded: a long-lived caller (the wizard, tests) sees many hosts; one run sees a few settings.
    if (crossings.size >= MAX_SETTINGS) crossings.clear()
    crossings.set(sig, (byFlow = new WeakMap()))
  }
  // By the flow object: flows are not changed once built (a remedy's change is a copy, patchFlow).
  let byBudget = byFlow.get(flow)
  if (!byBudget) byFlow.set(flow, (byBudget = new Map()))
  const hit = byBudget.get(budget)
  if (hit !== undefined || byBudget.has(budget)) return hit ?? null
  // One overrides object for every step: assess reads it and keeps nothing.
  const rate: AssessOverrides = {qps: flow.qps, fixed: {sender: senderPorts(host, flow), twReuse: twReuseApplies(host, flow)}}
  let at: Assessment | undefined
  const crossing = safeRate(
    (q) => {
      rate.qps = q
      // The first step's result is the scratch the others write into (assess keeps no reference).
      at = assess(host, flow, rate, at)
      return at.twStallShare + (at.natDropShare > 0 ? 1 : 0)
    },
    budget,
    flow.qps,
  )
  byBudget.set(budget, crossing)
  return crossing
}

/** The model's prediction for one flow (the lab compares it with what it measures). */
export function predictFlow(host: HostParams, flow: Flow, ctx?: PredictContext): Prediction {
  const budget = flowBudget(flow, ctx)
  const a = assess(host, flow)
  return {
    stall_share: a.stallShare,
    timeout_share: a.timeoutShare,
    reset_share: a.resetShare,
    reject_share: a.rejectShare,
    collision_share: a.collisionShare,
    mechanism: a.mechanism,
    assumptions: assumptionsFor(host, flow),
    safe_qps: safeQps(host, flow, budget, a),
    harm_budget: budget,
    harmful: a.stallShare > budget,
  }
}
