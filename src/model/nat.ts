/**
 * The NAT between the senders and the server (docs/kernel.md "NAT"): which tuple the server
 * sees, how soon a tuple comes back, and when the pool runs out. Pure arithmetic per
 * (NAT address, server endpoint) tuple space.
 *
 * A NAT tuple is taken while conntrack holds an entry for it, and conntrack keeps a closed
 * connection nf_conntrack_tcp_timeout_time_wait seconds (120 by default) — longer than the
 * server's 60 s of TIME_WAIT. So while the pool has free tuples, the tuple a remap picks was
 * released at least that long ago and the server has forgotten it. Past pool / conntrack_time_wait
 * new connections per second there is no free tuple: since 6.5 SNAT evicts a closing entry in
 * its last probes (nf_nat_used_tuple_harder), so the pool is recycled at random every
 * pool / qps seconds on average; before 6.5 the SYN is dropped (and retried after 1 s, 3 s, ...).
 */

export type NatRegime = 'free' | 'evicting' | 'exhausted'

export interface RemapPool {
  regime: NatRegime
  /** New connections per second the pool sustains without eviction. */
  capacityQps: number
  /** Mean seconds before a tuple of the pool is handed out again. */
  reuseSeconds: number
  /** Share of remapped SYNs that meet a tuple the server still holds in TIME_WAIT. */
  collisionShare: number
  /** Share of remapped SYNs the NAT drops for want of a tuple (no eviction). */
  dropShare: number
}

/**
 * A pool of `poolPorts` tuples receiving `qps` remapped connects per second. Remaps pick a tuple
 * at random (SNAT starts its probe at a random offset), so reuse gaps are spread with mean
 * reuseSeconds and the share landing inside the server's TIME_WAIT is 1 − exp(−timeWait / reuse).
 */
export function remapPool(poolPorts: number, qps: number, conntrackSeconds: number, timeWaitSeconds: number, evicts: boolean): RemapPool {
  const pool = Math.max(1, poolPorts)
  const capacityQps = pool / conntrackSeconds
  if (qps <= capacityQps) {
    // Free tuples were released conntrack_time_wait ago at least; the free ones left at a rate
    // qps come back after another (pool − qps·ct) / qps seconds.
    const free = Math.max(1, pool - qps * conntrackSeconds)
    const reuseSeconds = qps > 0 ? conntrackSeconds + free / qps : Infinity
    const inside = Math.max(0, timeWaitSeconds - conntrackSeconds)
    const collisionShare = inside > 0 && qps > 0 ? 1 - Math.exp((-inside * qps) / free) : 0
    return {regime: 'free', capacityQps, reuseSeconds, collisionShare, dropShare: 0}
  }
  if (evicts) {
    const reuseSeconds = pool / qps
    // With conntrack_time_wait below the server's TIME_WAIT, a pool just short of full already
    // hands out tuples after ct seconds; never predict less than that edge of the free regime.
    const freeEdge = timeWaitSeconds > conntrackSeconds ? 1 - Math.exp(-(timeWaitSeconds - conntrackSeconds) * capacityQps) : 0
    const collisionShare = Math.max(1 - Math.exp(-timeWaitSeconds / reuseSeconds), freeEdge)
    return {regime: 'evicting', capacityQps, reuseSeconds, collisionShare, dropShare: 0}
  }
  // Only capacityQps of the qps find a tuple: one whose conntrack entry has just expired, so it
  // comes back conntrack_time_wait seconds after its last use (the next SYN takes it). Before 6.5
  // nf_nat_l4proto_unique_tuple frees a tuple only when nf_conntrack_tuple_taken stops seeing its
  // entry, and conntrack's timer is not the server's: with conntrack_time_wait below the server's
  // TIME_WAIT every admitted SYN meets a tuple the server still holds, as at the free regime's edge.
  // (Taking these as collision-free made the stall share FALL past the edge: a NAT with
  // conntrack_time_wait 10 s and one port stalled 33 % of connects at 0.095/s and ~0 at 0.1/s.)
  const freeEdge = timeWaitSeconds > conntrackSeconds ? 1 - Math.exp(-(timeWaitSeconds - conntrackSeconds) * capacityQps) : 0
  return {regime: 'exhausted', capacityQps, reuseSeconds: conntrackSeconds, collisionShare: freeEdge, dropShare: 1 - capacityQps / qps}
}

export interface PreserveHoles {
  /** Share of connects the NAT remaps because another sender holds their port. */
  remapShare: number
  /** Seconds before a sender uses the same source port again. */
  ownReuseSeconds: number
  /** NAT tuples freed while the server still holds them in TIME_WAIT, at any moment. */
  holes: number
  /** Free tuples a remap can land on. */
  freePorts: number
  /** Share of remapped SYNs that land in a hole (or, past the free pool's capacity, on a recycled tuple). */
  holeShare: number
  /** Share of remapped SYNs dropped for want of a free tuple (no eviction). */
  dropShare: number
}

/**
 * Port-preserving NAT with `senders` hosts on the same source ports, all inside the pool.
 * A sender keeps its port at the NAT while it reuses it within conntrack's hold, so each port is
 * "owned" by one sender and the others' connects from that port are remapped: (S−1)/S of them.
 * When a sender reuses its own tuple, conntrack kills its old entry (a SYN on a closed entry
 * reopens it: nf_conntrack_proto_tcp.c) and with it the remapped NAT tuple, which the server
 * still holds in TIME_WAIT for (timeWait − ownReuse) more seconds: a hole. A later remap that
 * lands in a hole meets TIME_WAIT. Holes at any moment: remap rate × that remaining time.
 */
export function preserveHoles(p: {
  qps: number
  senders: number
  senderPorts: number
  poolPorts: number
  conntrackSeconds: number
  timeWaitSeconds: number
  evicts: boolean
}): PreserveHoles {
  const perSenderQps = p.qps / Math.max(1, p.senders)
  const ownReuseSeconds = perSenderQps > 0 ? p.senderPorts / perSenderQps : Infinity
  const others = (p.senders - 1) / p.senders
  // Past conntrack's hold the owner's entry has expired before it comes back: fewer ports owned.
  const remapShare = others * Math.min(1, p.conntrackSeconds / ownReuseSeconds)
  const remapQps = p.qps * remapShare
  const holes = ownReuseSeconds < p.conntrackSeconds ? remapQps * Math.max(0, p.timeWaitSeconds - ownReuseSeconds) : 0
  const freePorts = Math.max(1, p.poolPorts - p.senderPorts)
  let holeShare = Math.min(1, holes / freePorts)
  let dropShare = 0
  if (remapQps > 0) {
    const pool = remapPool(freePorts, remapQps, p.conntrackSeconds, p.timeWaitSeconds, p.evicts)
    holeShare = Math.max(holeShare, pool.collisionShare)
    dropShare = pool.dropShare
  }
  return {remapShare, ownReuseSeconds, holes, freePorts, holeShare, dropShare}
}
