import type {Closer, Role} from '../topology/types.js'
import type {PortSelection} from './ports.js'

/**
 * What the model says about one flow. Every number a finding or a renderer prints comes from
 * here (units in the names). `null` means "no limit from this mechanism" or "not applicable".
 */
export interface FlowModel {
  flow: string
  role: Role
  closesFirst: Closer
  keepalive: boolean
  behindNat: boolean
  /** More senders than addresses (NAT or a proxy): their ISNs and timestamps are unrelated. */
  sharedAddresses: boolean

  qps: number
  /** (source address, server endpoint) pairs: each has its own port space. */
  tupleSpaces: number
  qpsPerTupleSpace: number

  /** Whose port range picks the source port the server sees. */
  portSource: 'this-host' | 'declared' | 'assumed-default' | 'nat'
  portRange: [number, number]
  usablePorts: number
  firstParityPorts: number
  reservedPortsInRange: number
  portSelection: PortSelection | 'nat'
  portSelectionAssumed: boolean
  /** Mean connects toward one tuple space before a source port comes back. */
  reuseIntervalConnects: number
  /** The same in seconds at the declared rate. */
  reuseIntervalSeconds: number

  timeWaitSide: Closer
  timeWaitOnThisHost: boolean
  timeWaitSeconds: number
  /** TIME_WAIT entries this flow keeps on the closing side: qps × TIME_WAIT seconds. */
  timeWaitTuples: number

  /** Server closes first: share of new SYNs that land on a 4-tuple in TIME_WAIT. */
  collisionShare: number
  /** Collisions above the budget from senders unrelated to the tuple's last owner (NAT, proxy). */
  crossSenderHarm: boolean
  /**
   * Behind NAT: the share of SYNs that reach the server on a TIME_WAIT tuple because a sender
   * reused its own source port and conntrack re-opened its mapping (lab: 1,520 tuples seen again
   * within 60 s at 400/s with the NAT pool far from full).
   */
  senderReuseShare: number
  /**
   * This server has tcp_rfc1337=1 and receives such re-used tuples through NAT: measured
   * harmful (23 slow + 51 timeouts of 27,200, against 3 slow with rfc1337=0).
   */
  rfc1337Harm: boolean
  /** Any harm the model predicts from TIME_WAIT collisions: resets and 1–3 s stalls. */
  harmful: boolean
  /** Collisions above the budget from one Linux sender: accepted by ISN/timestamp, no harm. */
  benignCollisions: boolean

  natPoolPorts: number | null
  natTupleSpaces: number | null
  /** Earliest a NAT tuple comes back to another sender, seconds. */
  natReuseSeconds: number | null
  /** New connections per second the NAT sustains without eviction: pool / conntrack TIME_WAIT. */
  natCapacityQps: number | null
  /** Over natCapacityQps on a NAT that cannot evict (kernel < 6.5): SYNs dropped. */
  natExhausted: boolean

  /** Client closes first: tcp_tw_reuse=1 with timestamps on the client. */
  twReuseEffective: boolean
  /** Client closes first: connect() fails with EADDRNOTAVAIL at the declared rate. */
  portExhaustion: boolean
  /** Client closes first: rate above which every connect() scans the first-parity ports. */
  scanQps: number | null
  /** Client closes first, exhausted: successful connects per tuple space before the first failure. */
  connectsBeforeFailure: number | null

  /** The highest sustained rate with no failure and no harmful collision; null = no limit. */
  safeQps: number | null
  /** What a remedy should aim for: safeQps less the headroom (REMEDY_HEADROOM). */
  targetQps: number | null
  /** qps / safeQps; 0 when there is no limit. Above 1 means trouble. */
  margin: number

  /** Values remedies are computed from (null when that remedy cannot clear it). */
  addressesNeeded: number | null
  endpointsNeeded: number | null
  usablePortsNeeded: number | null
  suggestedPortRange: [number, number] | null
  twBucketsForSafeReuse: number | null
  vendorTimeWaitForSafeReuse: number | null
}

export interface HostModel {
  /** TIME_WAIT entries the flows keep on this host. */
  timeWaitTuples: number
  maxTwBuckets: number | null
  /** Over tcp_max_tw_buckets: closing sockets skip TIME_WAIT (TcpExtTCPTimeWaitOverflow). */
  twOverflow: boolean
  /**
   * The cap is at or below what a harmful server flow needs for safe reuse: the overflow is the
   * last-resort collision remedy at work, not an accident (so no rule should undo it).
   */
  twCapIsCollisionRemedy: boolean
  timeWaitSeconds: number
  kernelCode: number
}

export interface ModelResult {
  host: HostModel
  flows: FlowModel[]
}
