import type {Closer, NatKind, Role} from '../topology/types.js'
import type {PortSelection} from './ports.js'
import type {Mechanism} from './predict.js'

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
  /** Share of those collisions from someone unrelated to the tuple's last owner (identity.ts). */
  unrelatedShare: number
  /** Connects whose first SYN the server rejects (PAWS or sequence check). */
  rejectShare: number
  /** Connects that draw a stale ACK the client answers with RST (RSTs in the client's counters). */
  resetShare: number
  /** The harm: connects that fail or take over 500 ms (predict.ts), 0..1. */
  stallShare: number
  /** Connects that give up after every SYN attempt. */
  timeoutShare: number
  /** The part of stallShare from rejected SYNs on the server's TIME_WAIT tuples. */
  twStallShare: number
  /** The part from SYNs a NAT without a free tuple drops. */
  natDropShare: number
  /** The part from EADDRNOTAVAIL on the client. */
  exhaustionShare: number
  mechanism: Mechanism
  /** What the prediction assumed (the clients' kernel, the NAT's, the server's settings). */
  assumptions: string[]
  /** The stall share the flow may have: its harm_budget or HARM_BUDGET. */
  harmBudget: number
  /** Server and clients both send timestamps: rejections are PAWS rejects. */
  paws: boolean
  /** The clients resend a SYN ~2 ms after a stale ACK (5.6+). */
  fastResend: boolean
  /** The counter that shows PAWS rejects in TIME_WAIT on this host's kernel. */
  pawsCounter: string
  /** Stalls from TIME_WAIT rejections above the budget, from senders sharing addresses (NAT, proxy). */
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
  /** stallShare above the harm budget, whatever the mechanism. */
  harmful: boolean
  /** Collisions (over 1 % of SYNs) whose stall share stays within the budget: accepted or recovered in ms. */
  benignCollisions: boolean

  natPoolPorts: number | null
  natTupleSpaces: number | null
  natPortMode: 'preserve' | 'random' | 'fully-random' | null
  /** The NAT's kernel as declared (nat.kernel), this host's for role nat, else 'unknown'. */
  natKernel: string | null
  /** free: tuples to spare; evicting: 6.5+ recycles closing entries; exhausted: SYNs dropped. */
  natRegime: 'free' | 'evicting' | 'exhausted' | null
  /** Share of connects the NAT gives another port than the sender's. */
  natRemapShare: number
  /** Preserve mode: NAT tuples freed while the server still holds them in TIME_WAIT. */
  natHoles: number
  /**
   * Preserve mode, tcp_rfc1337=1, timestamps: the share of connects one stuck tuple fails (0 when
   * none can stick). The NAT hands a sender its own port on a tuple whose TIME_WAIT is another
   * sender's; its SYN is a PAWS reject, the reject re-arms the 60 s TIME_WAIT and the RST does not
   * clear it, so every connect from that port fails while the sender comes back to it within
   * 60 s. How many tuples stick is history (in about half the lab's runs one formed; it can come
   * free and stick again); each costs 1 / (senders x ports x tuple spaces) of connects.
   */
  stuckTupleShare: number
  /** Mean seconds before a NAT tuple comes back (preserve: before a sender reuses its own port). */
  natReuseSeconds: number | null
  /** New connections per second the NAT sustains without eviction: pool / conntrack TIME_WAIT. */
  natCapacityQps: number | null
  /** The NAT drops SYNs for want of a tuple (no eviction before 6.5). */
  natExhausted: boolean

  /** Client closes first: tcp_tw_reuse=1 with timestamps on the client. */
  twReuseEffective: boolean
  /** Client closes first: connect() fails with EADDRNOTAVAIL at the declared rate. */
  portExhaustion: boolean
  /** Client closes first: rate above which every connect() scans the first-parity ports. */
  scanQps: number | null
  /** Client closes first, exhausted: successful connects per tuple space before the first failure. */
  connectsBeforeFailure: number | null

  /** The highest rate whose stall share stays within the harm budget (bisection); null = no limit. */
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

  // --- Host-level accounting and cloud NATs (src/model/host.ts, src/model/cloud-nat.ts) ---
  /** TIME_WAIT entries this flow keeps on this host: qps × TIME_WAIT, at most its tuple space, less its overflow share. */
  timeWaitEntries: number
  /** Share of this flow's closes that skip TIME_WAIT because the host's cap is full. */
  twOverflowShare: number
  /** The client binds (ip, 0) before connect(): its ports come from one space per source address. */
  bindBeforeConnect: boolean
  /** bind() before connect() flows together hold every port of a source address: bind() fails with EADDRINUSE. */
  bindExhaustion: boolean
  /** TIME_WAIT entries per source address of all bind-before-connect flows, and the ports they share. */
  bindTuplesPerAddress: number | null
  bindUsablePorts: number | null
  /** bind() exhausted: the new-connection rate of this flow (others unchanged) that fits, with 10 % headroom. */
  bindTargetQps: number | null
  /** The NAT's kind (linux, or a cloud gateway with a published quota). */
  natKind: NatKind | null
  /** Cloud NAT: the quota (ports or connections) per unit, how long a closed connection holds it, units. */
  cloudNatQuota: number | null
  cloudNatHoldSeconds: number | null
  cloudNatQuotaUnits: number | null
  /** Cloud NAT: new connections per second the quota sustains toward this flow's destinations. */
  cloudNatCapacityQps: number | null
  /** Cloud NAT over its quota: connections fail (no eviction in a cloud gateway). */
  cloudNatExhausted: boolean
  /** Cloud NAT: the quota per unit (ports per VM / instance) that would carry the flow with 10 % headroom. */
  cloudNatQuotaNeeded: number | null
  /** Cloud NAT: the units (NAT addresses, VMs) that would carry the flow at today's quota. */
  cloudNatUnitsNeeded: number | null
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

  // --- Host-level accounting (src/model/host.ts) ---
  /** Where maxTwBuckets comes from: the sysctl or an estimate of the kernel's RAM-sized default. */
  maxTwBucketsSource: string
  maxTwBucketsEstimated: boolean
  /** Share of this host's closes that skip TIME_WAIT because the flows together overflow the cap. */
  twOverflowShare: number
  /** Entries past the cap: closes per second that skip TIME_WAIT, times TIME_WAIT. */
  twOverflowTuples: number
  /** Client flows that would run out of ports if their closes did not skip TIME_WAIT (raising the cap would hurt them). */
  twOverflowKeepsPortsFor: string[]
  /** conntrack on this host: entries the flows keep in TIME_WAIT, and nf_conntrack_max (null: no conntrack). */
  conntrackEntries: number | null
  conntrackMax: number | null
  conntrackFull: boolean
  /** nf_conntrack_max that holds the flows' entries with 10 % headroom. */
  conntrackMaxNeeded: number | null
  /** The kernel facts for this host's kernel (src/facts/kernel-facts.ts): rules see host.facts.<id>. */
  facts: Record<string, boolean>
}

export interface ModelResult {
  host: HostModel
  flows: FlowModel[]
}
