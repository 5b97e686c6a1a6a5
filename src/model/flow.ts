import {kernelAtLeast} from '../facts/kernel.js'
import type {Flow} from '../topology/types.js'
import {COLLISION_BUDGET, DEFAULT_PORT_RANGE, DEFAULT_UNPRIVILEGED_PORT_START, MAX_PORT, REMEDY_HEADROOM, TCP_TIMEWAIT_SECONDS} from './constants.js'
import {pawsTimewaitCounter} from './gates.js'
import {modelHost, modelHostUnder, type HostParams, type ModelledHost} from './host.js'
import {firstParityPorts, portSelection, reservedInRange, reuseIntervalConnects, usablePorts} from './ports.js'
import {assess, assumptionsFor, flowBudget, safeQps as safeQpsOf, type PredictContext} from './predict.js'
import type {FlowModel, ModelResult} from './types.js'

const EPS = 1e-9

/** The model for one host and its flows: pure arithmetic, no I/O (host-level accounting: host.ts). */
export function runModel(host: HostParams, flows: Flow[], ctx?: PredictContext): ModelResult {
  return modelHost(host, flows, (h, f) => modelFlow(h, f, ctx), readsOverflowShare)
}

/**
 * runModel(host, base.flows) when `host` differs from the base's settings only in
 * tcp_max_tw_buckets's value or nf_conntrack_max (modelHostUnder): only the flows whose models
 * read what moved are modelled again. Null for any other change (then runModel).
 */
export function runModelUnder(base: ModelledHost, host: HostParams): ModelResult | null {
  return modelHostUnder(base, host, (h, f) => modelFlow(h, f), readsOverflowShare, readsTwBucketsValue)
}

/**
 * Whether this flow's model reads host.twOverflowShare: only a client flow that closes first,
 * whose host has a tcp_max_tw_buckets (the kept share of its closes, here and in assess). Any
 * other flow's model is the same on modelHost's second pass, which then keeps the first.
 */
export function readsOverflowShare(host: HostParams, flow: Flow): boolean {
  return flow.closes_first === 'client' && flow.role === 'client' && host.maxTwBuckets !== null
}

/**
 * Whether this flow's model reads the value of tcp_max_tw_buckets, not only whether it is set:
 * only a server that closes first, whose collisions the cap bounds (assess's bucketCap). Any
 * other flow's model is the same under every value (modelHostUnder keeps it). Keep in step with
 * every read of host.maxTwBuckets here and in predict.ts (test/model/host-under.test.ts holds it).
 */
export function readsTwBucketsValue(flow: Flow): boolean {
  return flow.role === 'server' && flow.closes_first === 'server'
}

/**
 * How many flow models were built since the process started: a test holds `check` to a linear
 * number of them in the flows (issue 11 item 7), without timing anything.
 */
export const modelCalls = {flows: 0}

export function modelFlow(host: HostParams, flow: Flow, ctx?: PredictContext): FlowModel {
  modelCalls.flows++
  const thisHostCloses = flow.role !== 'nat' && flow.role === flow.closes_first
  // TIME_WAIT length on the closing side: this host's when it closes, else the mainline 60 s
  // (KERNEL.md: fixed in mainline; a vendor knob only applies where the host has it).
  const timeWaitSeconds = thisHostCloses ? host.timeWaitSeconds : TCP_TIMEWAIT_SECONDS
  const tupleSpaces = flow.client_addresses * flow.server_endpoints
  const qpsPerTupleSpace = flow.qps / tupleSpaces
  const behindNat = flow.nat !== undefined
  const sharedAddresses = behindNat || flow.senders > flow.client_addresses
  const budget = flowBudget(flow, ctx)

  // Whose range picks the port the server sees.
  let portSource: FlowModel['portSource']
  let portRange: [number, number]
  let reserved: [number, number][] = []
  if (flow.nat) {
    portSource = 'nat'
    portRange = flow.nat.port_range
  } else if (flow.role === 'client') {
    portSource = 'this-host'
    portRange = host.portRange
    reserved = host.reservedPorts
  } else if (flow.client_port_range) {
    portSource = 'declared'
    portRange = flow.client_port_range
  } else {
    portSource = 'assumed-default'
    portRange = DEFAULT_PORT_RANGE
  }
  const usable = usablePorts(portRange, reserved)
  const firstParity = firstParityPorts(portRange, reserved)
  // A client's own kernel picks ports; for role server we only know this host's kernel, which
  // is the best guess for the clients' (said in the finding as an assumption).
  const sel = portSelection(host.kernel)
  const interval = flow.nat ? usable : reuseIntervalConnects(sel.selection, usable, firstParity)

  // The harm model (predict.ts): what the kernel does with each SYN, as shares of connects.
  const a = assess(host, flow)
  const safeQps = safeQpsOf(host, flow, budget, a)
  const harmful = a.stallShare > budget + EPS
  const twHarm = a.twStallShare > budget + EPS
  // tcp_rfc1337=1 on this server: harmful when it is what lifts the stall share (the same flow
  // with the default 0 stalls less).
  // without1337 differs from the flow's own share only for a harmful server flow with
  // tcp_rfc1337=1, so it alone says both: rfc1337 lifted the share, and the share without it
  // (the flow's own one in every other case) is still over the budget.
  const without1337 = twHarm && flow.role === 'server' && host.rfc1337 === 1 ? assess(host, flow, {rfc1337: 0}).twStallShare : a.twStallShare
  const rfc1337Harm = without1337 < a.twStallShare
  const crossSenderHarm = sharedAddresses && without1337 > budget + EPS
  const benignCollisions = flow.closes_first === 'server' && a.collisionShare > COLLISION_BUDGET + EPS && !twHarm

  // Remedy values on the server, each the largest setting the model finds within the budget.
  let twBucketsForSafeReuse: number | null = null
  let vendorTimeWaitForSafeReuse: number | null = null
  if (flow.role === 'server' && flow.closes_first === 'server' && sharedAddresses) {
    const tuples = Math.max(1, Math.round(interval * tupleSpaces))
    const uncapped = host.maxTwBuckets === null ? a : assess(host, flow, {maxTwBuckets: null})
    if (uncapped.twStallShare > budget + EPS) {
      twBucketsForSafeReuse = largestWithin(0, tuples, (b) => assess(host, flow, {maxTwBuckets: b}).twStallShare <= budget)
    }
    if (host.vendorTimeWaitSeconds !== null && twHarm) {
      const t = largestWithin(0, Math.max(1, host.timeWaitSeconds), (s) => assess(host, flow, {timeWaitSeconds: s}).twStallShare <= budget)
      vendorTimeWaitForSafeReuse = t !== null && t >= 1 ? t : null
    }
  }

  // --- Client closes first: the client holds TIME_WAIT; ports toward one destination run out.
  let scanQps: number | null = null
  let connectsBeforeFailure: number | null = null
  const portExhaustion = a.exhaustionShare > 0
  if (flow.closes_first === 'client') {
    const clientBuckets = flow.role === 'client' ? host.maxTwBuckets : null
    const clientRange = flow.role === 'client' ? host.portRange : flow.client_port_range ?? DEFAULT_PORT_RANGE
    const clientReserved = flow.role === 'client' ? host.reservedPorts : []
    const clientUsable = usablePorts(clientRange, clientReserved)
    // Past tcp_max_tw_buckets the closing socket skips TIME_WAIT. The cap is per namespace, so
    // the share of this flow's closes that skip it comes from all the host's flows (host.ts).
    // The only read of twOverflowShare here, and in assess: keep readsOverflowShare in step.
    const keptShare = clientBuckets === null ? 1 : 1 - (host.twOverflowShare ?? 0)
    const capped = keptShare <= EPS
    scanQps = a.twReuseEffective || capped ? null : (firstParityPorts(clientRange, clientReserved) / (timeWaitSeconds * keptShare)) * tupleSpaces
    connectsBeforeFailure = portExhaustion ? clientUsable : null
    if (host.vendorTimeWaitSeconds !== null && flow.role === 'client' && portExhaustion) {
      const t = Math.floor(clientUsable / qpsPerTupleSpace)
      vendorTimeWaitForSafeReuse = t >= 1 ? t : null
    }
  }

  const margin = safeQps === null || safeQps <= 0 ? (safeQps === 0 ? Infinity : 0) : flow.qps / safeQps
  const over = margin > 1 + EPS
  const aim = margin * (1 + REMEDY_HEADROOM)
  const addressesNeeded = over ? Math.ceil(flow.client_addresses * aim - EPS) : null
  const endpointsNeeded = over ? Math.ceil(flow.server_endpoints * aim - EPS) : null
  // A client that closes first runs out of its own ports, behind a NAT too: those are counted and widened.
  const ownPorts = flow.closes_first === 'client' && flow.role === 'client'
  const ports = ownPorts ? usablePorts(host.portRange, host.reservedPorts) : usable
  const usablePortsNeeded = over ? Math.ceil(ports * aim - EPS) : null
  // This host's ip_local_reserved_ports and ip_unprivileged_port_start bound only its own range;
  // the clients' or the NAT's range gets the kernel defaults (nothing reserved, from 1024).
  const thisHostPicks = ownPorts || portSource === 'this-host'
  const suggestedPortRange =
    usablePortsNeeded === null ? null : widenRange(thisHostPicks ? host.portRange : portRange, usablePortsNeeded, thisHostPicks ? host : otherHost(host))

  return {
    flow: flow.name,
    role: flow.role,
    closesFirst: flow.closes_first,
    keepalive: flow.keepalive,
    behindNat,
    sharedAddresses,
    qps: flow.qps,
    tupleSpaces,
    qpsPerTupleSpace,
    portSource,
    portRange,
    usablePorts: usable,
    firstParityPorts: firstParity,
    reservedPortsInRange: reservedInRange(portRange, reserved),
    portSelection: flow.nat ? 'nat' : sel.selection,
    portSelectionAssumed: !flow.nat && sel.assumed,
    reuseIntervalConnects: interval,
    reuseIntervalSeconds: qpsPerTupleSpace > 0 ? interval / qpsPerTupleSpace : Infinity,
    timeWaitSide: flow.closes_first,
    timeWaitOnThisHost: thisHostCloses,
    timeWaitSeconds,
    timeWaitTuples: flow.qps * timeWaitSeconds,
    collisionShare: a.collisionShare,
    unrelatedShare: a.unrelatedShare,
    rejectShare: a.rejectShare,
    resetShare: a.resetShare,
    stallShare: a.stallShare,
    timeoutShare: a.timeoutShare,
    twStallShare: a.twStallShare,
    natDropShare: a.natDropShare,
    exhaustionShare: a.exhaustionShare,
    mechanism: a.mechanism,
    assumptions: assumptionsFor(host, flow),
    harmBudget: budget,
    paws: a.paws,
    fastResend: a.fastResend,
    pawsCounter: pawsTimewaitCounter(host.kernel),
    crossSenderHarm,
    senderReuseShare: a.senderReuseShare,
    rfc1337Harm,
    harmful,
    benignCollisions,
    natPoolPorts: flow.nat ? usable : null,
    natTupleSpaces: flow.nat ? tupleSpaces : null,
    natPortMode: flow.nat ? (flow.nat.port_mode ?? 'preserve') : null,
    natKernel: flow.nat ? (flow.nat.kernel ?? (flow.role === 'nat' ? (host.kernel?.raw ?? 'unknown') : 'unknown')) : null,
    natRegime: a.natRegime,
    natRemapShare: a.natRemapShare,
    natHoles: a.natHoles,
    stuckTupleShare: a.stuckTupleShare,
    natReuseSeconds: a.natReuseSeconds,
    natCapacityQps: a.natCapacityQps,
    natExhausted: a.natDropShare > EPS,
    twReuseEffective: a.twReuseEffective,
    portExhaustion,
    scanQps,
    connectsBeforeFailure,
    safeQps,
    targetQps: safeQps === null ? null : safeQps / (1 + REMEDY_HEADROOM),
    margin,
    addressesNeeded,
    endpointsNeeded,
    usablePortsNeeded,
    suggestedPortRange,
    twBucketsForSafeReuse,
    vendorTimeWaitForSafeReuse,
    // Filled in by the host-level step (host.ts modelHost, cloud-nat.ts).
    timeWaitEntries: 0,
    twOverflowShare: 0,
    bindBeforeConnect: false,
    bindExhaustion: false,
    bindTuplesPerAddress: null,
    bindUsablePorts: null,
    bindTargetQps: null,
    natKind: null,
    cloudNatQuota: null,
    cloudNatHoldSeconds: null,
    cloudNatQuotaUnits: null,
    cloudNatCapacityQps: null,
    cloudNatExhausted: false,
    cloudNatQuotaNeeded: null,
    cloudNatUnitsNeeded: null,
  }
}

/** `host` with the port settings of a host we know nothing of (the clients, the NAT), for widenRange. */
function otherHost(host: HostParams): HostParams {
  return {...host, reservedPorts: [], unprivilegedPortStart: DEFAULT_UNPRIVILEGED_PORT_START}
}

/** The largest integer in [lo, hi] where `ok` holds, for a predicate that holds up to a point; null if none. */
function largestWithin(lo: number, hi: number, ok: (n: number) => boolean): number | null {
  if (!ok(lo)) return null
  if (ok(hi)) return hi
  // ok(lo) and !ok(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (ok(mid)) lo = mid
    else hi = mid
  }
  return lo
}

/**
 * The narrowest widening of `range` that holds `needed` ports: keep the high end and lower the
 * low end, then raise the high end to 65535, never below ip_unprivileged_port_start. The ends get
 * different parity (low even, high odd) so both halves of connect()'s two passes are equal and
 * the kernel does not complain. Null when even the widest range is too small.
 */
export function widenRange(range: [number, number], needed: number, host: HostParams): [number, number] | null {
  const floor = Math.max(host.unprivilegedPortStart, 1)
  const reservedWithin = (lo: number, hi: number) => reservedInRange([lo, hi], host.reservedPorts)
  for (const hi0 of [range[1], MAX_PORT]) {
    const hi = hi0 % 2 === 1 ? hi0 : hi0 - 1
    let lo = hi - needed + 1
    // Lowering the low end can take in more reserved ports: extend until the usable count holds.
    for (let usable = needed - reservedWithin(lo, hi); usable < needed && lo >= floor; usable = hi - lo + 1 - reservedWithin(lo, hi)) {
      lo -= needed - usable
    }
    if (lo % 2 === 1) lo -= 1
    if (lo >= floor) return [Math.min(lo, range[0]), hi]
  }
  return null
}
