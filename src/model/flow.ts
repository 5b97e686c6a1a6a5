import {kernelAtLeast} from '../facts/kernel.js'
import type {Flow} from '../topology/types.js'
import {COLLISION_BUDGET, DEFAULT_PORT_RANGE, MAX_PORT, REMEDY_HEADROOM, TCP_TIMEWAIT_SECONDS} from './constants.js'
import {modelHost, twReuseApplies, type HostParams} from './host.js'
import {
  collisionShare,
  firstParityPorts,
  portSelection,
  qpsForCollisionShare,
  reservedInRange,
  reuseIntervalConnects,
  usablePorts,
} from './ports.js'
import type {FlowModel, ModelResult} from './types.js'

const EPS = 1e-9

/** The model for one host and its flows: pure arithmetic, no I/O (host-level accounting: host.ts). */
export function runModel(host: HostParams, flows: Flow[]): ModelResult {
  return modelHost(host, flows, modelFlow)
}

export function modelFlow(host: HostParams, flow: Flow): FlowModel {
  const thisHostCloses = flow.role !== 'nat' && flow.role === flow.closes_first
  // TIME_WAIT length on the closing side: this host's when it closes, else the mainline 60 s
  // (KERNEL.md: fixed in mainline; a vendor knob only applies where the host has it).
  const timeWaitSeconds = thisHostCloses ? host.timeWaitSeconds : TCP_TIMEWAIT_SECONDS
  const tupleSpaces = flow.client_addresses * flow.server_endpoints
  const qpsPerTupleSpace = flow.qps / tupleSpaces
  const behindNat = flow.nat !== undefined
  const sharedAddresses = behindNat || flow.senders > flow.client_addresses

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

  // --- NAT (KERNEL.md, "NAT gateways"): a tuple is busy while conntrack holds it.
  let natPoolPorts: number | null = null
  let natTupleSpaces: number | null = null
  let natReuseSeconds: number | null = null
  let natCapacityQps: number | null = null
  let natExhausted = false
  if (flow.nat) {
    natPoolPorts = usable
    natTupleSpaces = tupleSpaces
    const ct = flow.nat.conntrack_time_wait
    natCapacityQps = (natPoolPorts / ct) * natTupleSpaces
    // Since 6.5 SNAT may evict a conntrack entry in TIME_WAIT under port pressure. We know the
    // NAT's kernel only when this host is the NAT; otherwise assume a current one.
    const natEvicts = flow.role === 'nat' ? kernelAtLeast(host.kernel, '6.5') : true
    const overCapacity = flow.qps > natCapacityQps + EPS
    natReuseSeconds = !overCapacity ? ct : natEvicts ? natPoolPorts / qpsPerTupleSpace : ct
    natExhausted = overCapacity && !natEvicts
  }

  // --- Server closes first: does a new SYN land on a TIME_WAIT 4-tuple on the server?
  let share = 0
  let safeQps: number | null = null
  let twBucketsForSafeReuse: number | null = null
  let vendorTimeWaitForSafeReuse: number | null = null
  // The server's tcp_max_tw_buckets caps how many tuples can be in TIME_WAIT (known for role server).
  const serverBuckets = flow.role === 'server' ? host.maxTwBuckets : null
  if (flow.closes_first === 'server') {
    const spaceTuples = interval * tupleSpaces
    const capShare = serverBuckets === null ? 1 : Math.min(1, serverBuckets / Math.max(1, spaceTuples))
    if (flow.nat) {
      share = natReuseSeconds! < timeWaitSeconds ? capShare : 0
    } else {
      share = Math.min(capShare, collisionShare(sel.selection, interval, qpsPerTupleSpace, timeWaitSeconds))
    }
    if (sharedAddresses) {
      if (capShare <= COLLISION_BUDGET) safeQps = null
      else if (flow.nat) safeQps = (usable / timeWaitSeconds) * tupleSpaces
      else safeQps = qpsForCollisionShare(sel.selection, interval, timeWaitSeconds, COLLISION_BUDGET) * tupleSpaces
      twBucketsForSafeReuse = Math.floor(COLLISION_BUDGET * spaceTuples)
      if (host.vendorTimeWaitSeconds !== null && flow.role === 'server') {
        const t = flow.nat
          ? Math.ceil(natReuseSeconds!) - 1
          : Math.floor((-Math.log(1 - COLLISION_BUDGET) * interval) / qpsPerTupleSpace)
        vendorTimeWaitForSafeReuse = t >= 1 ? t : null
      }
    }
  }
  // Behind NAT a sender that reuses its own source port re-opens its conntrack entry, so the
  // server sees the same tuple again however large the pool (measured in the lab).
  let senderReuseShare = 0
  if (flow.nat && flow.closes_first === 'server') {
    const senderRange = flow.client_port_range ?? DEFAULT_PORT_RANGE
    const senderInterval = reuseIntervalConnects(sel.selection, usablePorts(senderRange, []), firstParityPorts(senderRange, []))
    const perSenderQps = flow.qps / flow.senders / flow.server_endpoints
    const capShare = serverBuckets === null ? 1 : Math.min(1, serverBuckets / Math.max(1, interval * tupleSpaces))
    senderReuseShare = Math.min(capShare, collisionShare(sel.selection, senderInterval, perSenderQps, timeWaitSeconds))
  }
  const collides = share > COLLISION_BUDGET + EPS
  const crossSenderHarm = collides && sharedAddresses
  const benignCollisions = collides && !sharedAddresses
  // tcp_rfc1337=1 drops the RST that clears a stale entry (KERNEL.md; lab: worse in every run).
  const rfc1337Harm =
    flow.role === 'server' && host.rfc1337 === 1 && sharedAddresses && (collides || senderReuseShare > COLLISION_BUDGET + EPS)
  const harmful = crossSenderHarm || rfc1337Harm

  // --- Client closes first: the client holds TIME_WAIT; ports toward one destination run out.
  let twReuseEffective = false
  let portExhaustion = false
  let scanQps: number | null = null
  let connectsBeforeFailure: number | null = null
  if (flow.closes_first === 'client') {
    // tcp_tw_reuse=1 only for outgoing connections and with timestamps (KERNEL.md); we know the
    // client's settings only when this host is the client.
    twReuseEffective = flow.role === 'client' && twReuseApplies(host, flow) && host.timestamps > 0
    const clientBuckets = flow.role === 'client' ? host.maxTwBuckets : null
    // The client's own port range applies (a NAT in between adds its own limit below).
    const clientRange = flow.role === 'client' ? host.portRange : flow.client_port_range ?? DEFAULT_PORT_RANGE
    const clientReserved = flow.role === 'client' ? host.reservedPorts : []
    const clientUsable = usablePorts(clientRange, clientReserved)
    const holdSeconds = twReuseEffective ? host.twReuseDelayMs / 1000 : timeWaitSeconds
    // Past tcp_max_tw_buckets the closing socket skips TIME_WAIT. The cap is per namespace, so
    // the share of this flow's closes that skip it comes from all the host's flows (host.ts).
    const keptShare = clientBuckets === null ? 1 : 1 - (host.twOverflowShare ?? 0)
    const capped = keptShare <= EPS
    const perSpace = capped ? Infinity : clientUsable / (holdSeconds * keptShare)
    const clientSafe = perSpace * tupleSpaces
    const natSafe = flow.nat && natExhausted ? natCapacityQps! : Infinity
    const limit = Math.min(clientSafe, natSafe)
    safeQps = Number.isFinite(limit) ? limit : null
    portExhaustion = flow.qps > clientSafe + EPS
    scanQps = twReuseEffective || capped ? null : (firstParityPorts(clientRange, clientReserved) / (timeWaitSeconds * keptShare)) * tupleSpaces
    connectsBeforeFailure = portExhaustion ? clientUsable : null
    if (host.vendorTimeWaitSeconds !== null && flow.role === 'client' && portExhaustion) {
      const t = Math.floor(clientUsable / qpsPerTupleSpace)
      vendorTimeWaitForSafeReuse = t >= 1 ? t : null
    }
  } else if (flow.nat && natExhausted) {
    safeQps = Math.min(safeQps ?? Infinity, natCapacityQps!)
  }

  const margin = safeQps === null || safeQps <= 0 ? (safeQps === 0 ? Infinity : 0) : flow.qps / safeQps
  const over = margin > 1 + EPS
  const aim = margin * (1 + REMEDY_HEADROOM)
  const addressesNeeded = over ? Math.ceil(flow.client_addresses * aim - EPS) : null
  const endpointsNeeded = over ? Math.ceil(flow.server_endpoints * aim - EPS) : null
  const ports = flow.closes_first === 'client' && flow.role === 'client' ? usablePorts(host.portRange, host.reservedPorts) : usable
  const usablePortsNeeded = over ? Math.ceil(ports * aim - EPS) : null
  const suggestedPortRange =
    usablePortsNeeded === null ? null : widenRange(flow.role === 'client' && !flow.nat ? host.portRange : portRange, usablePortsNeeded, host)

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
    collisionShare: share,
    crossSenderHarm,
    senderReuseShare,
    rfc1337Harm,
    harmful,
    benignCollisions,
    natPoolPorts,
    natTupleSpaces,
    natReuseSeconds,
    natCapacityQps,
    natExhausted,
    twReuseEffective,
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
    lo -= reservedWithin(lo, hi)
    if (lo % 2 === 1) lo -= 1
    if (lo >= floor) return [Math.min(lo, range[0]), hi]
  }
  return null
}
