import type {Facts} from '../facts/types.js'
import {kernelCode, parseKernel, type KernelVersion} from '../facts/kernel.js'
import {parsePeer} from '../topology/peer.js'
import type {Flow} from '../topology/types.js'
import {applyCloudNat} from './cloud-nat.js'
import {usablePorts} from './ports.js'
import {factsFor, type FactId} from '../facts/kernel-facts.js'
import {
  DEFAULT_CONNTRACK_TIME_WAIT_SECONDS,
  DEFAULT_PORT_RANGE,
  DEFAULT_TW_REUSE_DELAY_MS,
  DEFAULT_UNPRIVILEGED_PORT_START,
  REMEDY_HEADROOM,
  TCP_TIMEWAIT_SECONDS,
} from './constants.js'
import type {FlowModel, HostModel, ModelResult} from './types.js'
import {MAX_TW_BUCKETS_DEFAULT_CEILING, PAGE_BYTES, PRE_6_14_TW_REUSE_DELAY_MS} from './host-constants.js'
import {sameValue} from '../util/same.js'

/** The host settings the model uses, parsed once from the facts. -1 / null means absent. */
export interface HostParams {
  kernel: KernelVersion | null
  /** True when the topology's `kernel:` replaced the detected version (what-if). */
  kernelOverridden: boolean
  portRange: [number, number]
  portRangeDeclared: boolean
  reservedPorts: [number, number][]
  unprivilegedPortStart: number
  /** tcp_tw_reuse: 0, 1, 2 (loopback only), or null when the key is absent. */
  twReuse: number | null
  twReuseDelayMs: number
  /**
   * Where twReuseDelayMs comes from: the sysctl, its 6.14+ default, or (before 6.14, no sysctl)
   * the worst case of the whole-second test: up to 2 s since the last timestamped segment.
   */
  twReuseDelaySource: 'sysctl' | 'default' | 'whole-seconds'
  timestamps: number
  /** tcp_max_tw_buckets: the sysctl, or the kernel's default estimated when the key is absent. */
  maxTwBuckets: number | null
  maxTwBucketsSource: TwBucketsSource
  /** The kernel facts (src/facts/kernel-facts.ts) for this host's kernel. */
  facts: Record<FactId, boolean>
  /** nf_conntrack_max when the host has conntrack loaded (null: no conntrack on this host). */
  conntrackMax: number | null
  rfc1337: number
  /** tcp_tw_recycle: present only on kernels before 4.12 (and vendor 3.10 kernels). */
  twRecycle: number | null
  finTimeoutSeconds: number | null
  /** A vendor TIME_WAIT length (net.ipv4.tcp_tw_timeout on Alibaba Cloud Linux), when the kernel has one. */
  vendorTimeWaitSeconds: number | null
  conntrackTimeWaitSeconds: number | null
  /** The TIME_WAIT length this host really applies. */
  timeWaitSeconds: number
  /**
   * Set by runModel's second pass (accountHost): the share of closes that skip TIME_WAIT because
   * the flows together overflow tcp_max_tw_buckets. Absent on the first pass.
   */
  twOverflowShare?: number
}

function num(v: string | undefined): number | null {
  if (v === undefined) return null
  const first = v.trim().split(/\s+/)[0]
  // An empty value is no value: Number('') is 0, which would read as a cap of 0 buckets.
  if (!first) return null
  const n = Number(first)
  return Number.isFinite(n) ? n : null
}

/** "1000-1010,2000" -> [[1000,1010],[2000,2000]] */
export function parsePortList(v: string | undefined): [number, number][] {
  if (!v || v.trim() === '') return []
  return v
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [a, b] = part.split('-').map(Number)
      return [a!, b ?? a!] as [number, number]
    })
    .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
}

export function hostParams(facts: Facts, kernelOverride?: string): HostParams {
  const s = facts.sysctls
  const range = (s['net.ipv4.ip_local_port_range'] ?? '').split(/\s+/).map(Number)
  const hasRange = range.length === 2 && range.every(Number.isFinite)
  const vendor = num(s['net.ipv4.tcp_tw_timeout'])
  const override = kernelOverride ? parseKernel(kernelOverride) : null
  const kernel = override ?? facts.kernel
  const kernelFacts = factsFor(kernel)
  const delay = num(s['net.ipv4.tcp_tw_reuse_delay'])
  const buckets = twBucketsDefault(s, kernel)
  return {
    kernel,
    kernelOverridden: override !== null,
    portRange: hasRange ? [range[0]!, range[1]!] : DEFAULT_PORT_RANGE,
    portRangeDeclared: hasRange,
    reservedPorts: parsePortList(s['net.ipv4.ip_local_reserved_ports']),
    unprivilegedPortStart: num(s['net.ipv4.ip_unprivileged_port_start']) ?? DEFAULT_UNPRIVILEGED_PORT_START,
    twReuse: num(s['net.ipv4.tcp_tw_reuse']),
    // Before 6.14 tcp_twsk_unique() compares whole seconds, so a port waits up to 2 s (KERNEL.md).
    twReuseDelayMs: delay ?? (kernelFacts.tw_reuse_delay_sysctl ? DEFAULT_TW_REUSE_DELAY_MS : PRE_6_14_TW_REUSE_DELAY_MS),
    twReuseDelaySource: delay !== null ? 'sysctl' : kernelFacts.tw_reuse_delay_sysctl ? 'default' : 'whole-seconds',
    timestamps: num(s['net.ipv4.tcp_timestamps']) ?? 1,
    maxTwBuckets: buckets.value,
    maxTwBucketsSource: buckets.source,
    facts: kernelFacts,
    conntrackMax: num(s['net.netfilter.nf_conntrack_max']) ?? num(s['net.nf_conntrack_max']),
    rfc1337: num(s['net.ipv4.tcp_rfc1337']) ?? 0,
    twRecycle: num(s['net.ipv4.tcp_tw_recycle']),
    finTimeoutSeconds: num(s['net.ipv4.tcp_fin_timeout']),
    vendorTimeWaitSeconds: vendor,
    conntrackTimeWaitSeconds: num(s['net.netfilter.nf_conntrack_tcp_timeout_time_wait']) ?? null,
    timeWaitSeconds: vendor ?? TCP_TIMEWAIT_SECONDS,
  }
}

/**
 * Where maxTwBuckets came from. The kernel sets the default at boot to half the established
 * hash (tcp_init / tcp_sk_init: `cnt / 2`), sized by RAM, so a dump without the key still has a
 * cap; we estimate it from what else the dump holds, most direct first:
 * - tcp_ehash_entries (6.1+): the hash size itself (negative in a namespace sharing the global one);
 * - tcp_max_orphans: set to the same `cnt / 2` in tcp_init() (unless someone tuned it);
 * - tcp_mem: its middle value is RAM pages / 16 on current kernels (/ 8 on 3.10: a real CentOS 7
 *   dump has 247,009 pages for 8 GB), and the hash gets one slot per 128 KiB of RAM rounded to a
 *   power of two, at most 512 Ki slots; this one is within a factor of two or four;
 * - nothing: the largest default, 262,144.
 */
export type TwBucketsSource = 'sysctl' | 'tcp_ehash_entries' | 'tcp_max_orphans' | 'tcp_mem' | 'assumed'

export function twBucketsDefault(s: Record<string, string>, kernel: KernelVersion | null = null): {value: number; source: TwBucketsSource} {
  const set = num(s['net.ipv4.tcp_max_tw_buckets'])
  if (set !== null) return {value: set, source: 'sysctl'}
  const ehash = num(s['net.ipv4.tcp_ehash_entries'])
  if (ehash !== null && ehash !== 0) return {value: Math.min(Math.abs(ehash) / 2, MAX_TW_BUCKETS_DEFAULT_CEILING), source: 'tcp_ehash_entries'}
  const orphans = num(s['net.ipv4.tcp_max_orphans'])
  if (orphans !== null && orphans > 0) return {value: Math.min(orphans, MAX_TW_BUCKETS_DEFAULT_CEILING), source: 'tcp_max_orphans'}
  const mem = (s['net.ipv4.tcp_mem'] ?? '').trim().split(/\s+/).map(Number)
  if (mem.length === 3 && mem.every((x) => Number.isFinite(x) && x > 0)) {
    const pagesPerUnit = kernel !== null && kernel.major < 4 ? 8 : 16
    const ramBytes = mem[1]! * pagesPerUnit * PAGE_BYTES
    const slots = 2 ** Math.ceil(Math.log2(Math.max(1, ramBytes / (128 * 1024))))
    return {value: Math.min(slots / 2, MAX_TW_BUCKETS_DEFAULT_CEILING), source: 'tcp_mem'}
  }
  return {value: MAX_TW_BUCKETS_DEFAULT_CEILING, source: 'assumed'}
}

export {DEFAULT_CONNTRACK_TIME_WAIT_SECONDS}

/**
 * Host-level accounting (issue 12): what the flows of one host do TOGETHER, which a model of
 * one flow cannot see.
 * - TIME_WAIT: each flow keeps qps × TIME_WAIT entries, but never more than its tuple space (a
 *   destination's source ports × source addresses × endpoints); the sum meets the namespace's
 *   tcp_max_tw_buckets (one cap per network namespace, not per flow). Past it every closing
 *   socket has the same chance to skip TIME_WAIT, so the overflow share is split among the flows
 *   in proportion to their entries.
 * - bind() before connect(): such flows pick ports through the bind hash, where a TIME_WAIT
 *   owner is a conflict for ANY destination, so their entries share one port space per source
 *   address and the failure is EADDRINUSE at bind().
 * - conntrack: when the host tracks connections, each new one keeps an entry while it lives in
 *   TIME_WAIT or CLOSE (120 s / 10 s by default), against nf_conntrack_max.
 */
export interface HostAccounting {
  /** TIME_WAIT entries of every flow on this host, each bounded by its tuple space. */
  timeWaitTuples: number
  /** Share of this host's closes that skip TIME_WAIT because the cap is full (0..1). */
  twOverflowShare: number
  /** Per flow: its TIME_WAIT entries bounded by its tuple space (0 when the peer holds them). */
  flowEntries: number[]
  /** bind() before connect() flows, together: TIME_WAIT entries per source address, and the ports they share. */
  bindTuplesPerAddress: number
  bindUsablePorts: number
  /** The source addresses the bind-before-connect flows share. */
  bindAddresses: number
  bindExhausted: boolean
  /** conntrack entries the flows keep (null without conntrack on this host). */
  conntrackEntries: number | null
}

export interface FlowShape {
  role: 'client' | 'server' | 'nat'
  closesFirst: 'client' | 'server'
  qps: number
  timeWaitSeconds: number
  timeWaitOnThisHost: boolean
  /** The ports one (source address, destination) can use, times the tuple spaces. */
  tupleSpaceBound: number
  bindBeforeConnect: boolean
  clientAddresses: number
  /** nf_conntrack_tcp_timeout_time_wait that applies to this flow on this host, s. */
  conntrackHoldSeconds: number
}

export function accountHost(host: HostParams, flows: FlowShape[]): HostAccounting {
  const flowEntries = flows.map(entriesOf)
  const timeWaitTuples = flowEntries.reduce((a, b) => a + b, 0)
  const conntrackEntries = host.conntrackMax === null ? null : flows.reduce((a, f) => a + conntrackOf(f), 0)
  return accounted(host, flowEntries, timeWaitTuples, flows.filter(isBound), conntrackEntries)
}

/** A flow's TIME_WAIT entries on this host, bounded by its tuple space (as accountHost counts them). */
export const entriesOf = (f: FlowShape): number => (f.timeWaitOnThisHost ? Math.min(f.qps * f.timeWaitSeconds, f.tupleSpaceBound) : 0)
const conntrackOf = (f: FlowShape) => f.qps * f.conntrackHoldSeconds
const isBound = (f: FlowShape) => f.bindBeforeConnect && f.role === 'client' && f.timeWaitOnThisHost

/** The rest of accountHost once the sums are known (`bind`: the bind-before-connect flows, in order). */
function accounted(host: HostParams, flowEntries: number[], timeWaitTuples: number, bind: FlowShape[], conntrackEntries: number | null): HostAccounting {
  const cap = host.maxTwBuckets
  const twOverflowShare = cap !== null && timeWaitTuples > cap ? 1 - cap / timeWaitTuples : 0
  // bind(ip, 0) may take any port of the range (it prefers the opposite parity, then all).
  const bindUsablePorts = usablePortsOf(host)
  // The flows share the host's source addresses; the fewest any of them declares bounds them all.
  const addresses = bind.length ? Math.min(...bind.map((f) => f.clientAddresses)) : 1
  const bindTuplesPerAddress = (bind.reduce((a, f) => a + f.qps * f.timeWaitSeconds, 0) * (1 - twOverflowShare)) / addresses
  const bindExhausted = bind.length > 0 && bindTuplesPerAddress > bindUsablePorts + 1e-9
  return {timeWaitTuples, twOverflowShare, flowEntries, bindTuplesPerAddress, bindUsablePorts, bindAddresses: addresses, bindExhausted, conntrackEntries}
}

/**
 * accountHost for a host whose flows change one at a time (the engine judging a remedy for one
 * flow): the host's totals are computed once, and each change patches them by that flow's delta,
 * in O(1), instead of summing every flow again. Bit for bit what accountHost gives the changed
 * flows: a delta is exact while every term and total is an integer below 2^53 (qps × whole
 * seconds, the usual case); otherwise the sum is redone in accountHost's order, still without
 * modelling any flow again.
 */
export class HostTotals {
  readonly acc: HostAccounting
  private readonly conntrack: number[] | null
  /** Sum of the terms' magnitudes when they are all integers (their sum is then exact in any order), else null. */
  private readonly entriesAbs: number | null
  private readonly conntrackAbs: number | null
  private readonly bound: number[]

  constructor(
    private readonly host: HostParams,
    private readonly shapes: FlowShape[],
  ) {
    this.acc = accountHost(host, shapes)
    this.conntrack = host.conntrackMax === null ? null : shapes.map(conntrackOf)
    this.entriesAbs = integerMagnitude(this.acc.flowEntries)
    this.conntrackAbs = this.conntrack === null ? null : integerMagnitude(this.conntrack)
    this.bound = shapes.flatMap((f, i) => (isBound(f) ? [i] : []))
  }

  /**
   * The accounting under other settings when the flows' shapes do not change with them (same
   * port range and reserved ports, TIME_WAIT and conntrack lengths; tcp_max_tw_buckets and
   * nf_conntrack_max may differ), in O(1); null when they may.
   */
  under(host: HostParams): HostAccounting | null {
    const b = this.host
    const same =
      JSON.stringify([host.portRange, host.reservedPorts, host.timeWaitSeconds, host.conntrackTimeWaitSeconds]) ===
      JSON.stringify([b.portRange, b.reservedPorts, b.timeWaitSeconds, b.conntrackTimeWaitSeconds])
    if (!same || (host.conntrackMax === null) !== (b.conntrackMax === null)) return null
    return accounted(host, this.acc.flowEntries, this.acc.timeWaitTuples, this.bound.map((j) => this.shapes[j]!), this.acc.conntrackEntries)
  }

  /**
   * The accounting with flow `i`'s shape replaced by `shape`. Its flowEntries is the unchanged
   * hosts' array: flow i's own entries are returned beside it.
   */
  replaced(i: number, shape: FlowShape): {acc: HostAccounting; entries: number} {
    const entries = entriesOf(shape)
    const old = this.acc.flowEntries
    const timeWaitTuples = replacedSum(old, this.acc.timeWaitTuples, this.entriesAbs, i, entries)
    let conntrackEntries: number | null = null
    if (this.conntrack !== null) conntrackEntries = replacedSum(this.conntrack, this.acc.conntrackEntries!, this.conntrackAbs, i, conntrackOf(shape))
    const bind: FlowShape[] = []
    let placed = false
    for (const j of this.bound) {
      if (!placed && j >= i) {
        placed = true
        if (isBound(shape)) bind.push(shape)
        if (j === i) continue
      }
      bind.push(this.shapes[j]!)
    }
    if (!placed && isBound(shape)) bind.push(shape)
    return {acc: accounted(this.host, old, timeWaitTuples, bind, conntrackEntries), entries}
  }
}

/** Sum of |terms| when every term is an integer and that sum is below 2^53 (any order of adding is then exact), else null. */
function integerMagnitude(terms: number[]): number | null {
  let abs = 0
  for (const t of terms) {
    if (!Number.isInteger(t)) return null
    abs += Math.abs(t)
  }
  return abs <= Number.MAX_SAFE_INTEGER ? abs : null
}

/** sum(terms with terms[i] = value), as accountHost adds it (from 0, in order): by the delta when that is exact. */
function replacedSum(terms: number[], total: number, abs: number | null, i: number, value: number): number {
  if (abs !== null && Number.isInteger(value) && abs + Math.abs(value) <= Number.MAX_SAFE_INTEGER) return total - terms[i]! + value
  let sum = 0
  for (let j = 0; j < terms.length; j++) sum += j === i ? value : terms[j]!
  return sum
}

function usablePortsOf(host: HostParams): number {
  return usablePorts(host.portRange, host.reservedPorts)
}

/**
 * The model for one host: every flow alone (`modelOne`, src/model/flow.ts), then what they do
 * together (accountHost). When the flows together overflow tcp_max_tw_buckets, the client flows
 * are modelled again with the overflow share, since closes that skip TIME_WAIT free their ports.
 */
export function modelHost(
  host: HostParams,
  flows: Flow[],
  modelOne: (host: HostParams, flow: Flow) => FlowModel,
  readsShare: (host: HostParams, flow: Flow) => boolean = () => true,
): ModelResult {
  let models = flows.map((f) => modelOne(host, f))
  const shapes = (ms: FlowModel[]) => ms.map((m, i) => flowShape(host, flows[i]!, m))
  let acc = accountHost(host, shapes(models))
  // Client flows that would run out of ports but for the closes that skip TIME_WAIT.
  let keptByOverflow: string[] = []
  if (acc.twOverflowShare > 0) {
    const capped: HostParams = Object.assign({}, host, {twOverflowShare: acc.twOverflowShare})
    const first = models
    // A flow whose model does not read the share keeps its first model (not changed until finishFlow).
    models = flows.map((f, i) => (readsShare(capped, f) ? modelOne(capped, f) : first[i]!))
    acc = accountHost(host, shapes(models))
    keptByOverflow = models.filter((m, i) => first[i]!.portExhaustion && !m.portExhaustion).map((m) => m.flow)
  }
  models.forEach((m, i) => finishFlow(flows[i]!, m, acc, acc.flowEntries[i]!))
  return {host: hostModelOf(host, acc, models.some((m) => collisionRemedyCap(host, m)), keptByOverflow), flows: models}
}

/** The settings modelHostUnder follows: the flows' shapes (flowShape) read none of them. */
const CAP_SETTINGS = new Set<string>(['maxTwBuckets', 'maxTwBucketsSource', 'conntrackMax'])

/** A host modelled already: its settings, flows, model and totals (the engine's unchanged host). */
export interface ModelledHost {
  host: HostParams
  flows: Flow[]
  result: ModelResult
  totals: HostTotals
  /** Flow i's portExhaustion on modelHost's first pass (before the overflow share and finishFlow). */
  firstPortExhaustion: (i: number) => boolean
  /**
   * Set by modelHostUnder: the flows these settings can move (the rest keep TIME_WAIT nowhere
   * here, bind nothing and read neither the cap nor the share: only a sign of zero could move).
   */
  movable?: number[]
}

/**
 * modelHost(host, base.flows) for settings that differ from the base's only in the value of
 * tcp_max_tw_buckets (set on both or on neither), where that value came from, and
 * nf_conntrack_max (set on both or on neither): a host-wide remedy judged without modelling
 * every flow again. No flow's shape reads these, so the accounting is the base's totals under
 * the new settings (HostTotals.under), and a flow is modelled again only when its model reads
 * something that moved: the cap's value (`readsCap`), the overflow share (`readsShare`), or the
 * numbers finishFlow gives it. Every other flow keeps the base's model object, which is what
 * modelHost would build for it, field for field. Null when the settings differ in anything else.
 */
export function modelHostUnder(
  base: ModelledHost,
  host: HostParams,
  modelOne: (host: HostParams, flow: Flow) => FlowModel,
  readsShare: (host: HostParams, flow: Flow) => boolean,
  readsCap: (flow: Flow) => boolean,
): ModelResult | null {
  const b = base.host
  const keys = Object.keys(b)
  if (keys.length !== Object.keys(host).length || 'twOverflowShare' in b || 'twOverflowShare' in host) return null
  for (const k of keys) {
    if (!(k in host)) return null
    if (!CAP_SETTINGS.has(k) && !sameValue(b[k as keyof HostParams], host[k as keyof HostParams])) return null
  }
  if ((host.maxTwBuckets === null) !== (b.maxTwBuckets === null)) return null
  const acc = base.totals.under(host)
  if (acc === null) return null
  const prev = base.totals.acc
  const share = acc.twOverflowShare
  const shareMoved = !Object.is(share, prev.twOverflowShare)
  const capMoved = !Object.is(host.maxTwBuckets, b.maxTwBuckets)
  const bindMoved =
    !Object.is(acc.bindTuplesPerAddress, prev.bindTuplesPerAddress) ||
    !Object.is(acc.bindUsablePorts, prev.bindUsablePorts) ||
    !Object.is(acc.bindAddresses, prev.bindAddresses) ||
    acc.bindExhausted !== prev.bindExhausted
  const capped: HostParams = share > 0 ? Object.assign({}, host, {twOverflowShare: share}) : host
  const flows = base.flows
  const models = base.result.flows.slice()
  const kept: string[] = []
  // Share readers modelled again, and left as they were: host.twOverflowKeepsPortsFor needs them all one way.
  let readersAgain = 0
  let readersKept = 0
  base.movable ??= movableFlows(base, readsShare, readsCap)
  // Any other flow has no TIME_WAIT entries here: finishFlow gives it 0 × (1 − share), the same unless its sign moved.
  const every = !Object.is(0 * (1 - share), 0 * (1 - prev.twOverflowShare))
  const scan = every ? flows.length : base.movable.length
  for (let n = 0; n < scan; n++) {
    const i = every ? n : base.movable[n]!
    const f = flows[i]!
    const m = models[i]!
    const second = share > 0 && readsShare(capped, f)
    let again = (capMoved && readsCap(f)) || (shareMoved && readsShare(host, f))
    if (!again && (shareMoved || bindMoved)) {
      // finishFlow's numbers for this flow, unless they are the ones it has.
      again = m.bindBeforeConnect || !Object.is(acc.flowEntries[i]! * (1 - share), m.timeWaitEntries) || !Object.is(m.timeWaitOnThisHost ? share : 0, m.twOverflowShare)
    }
    if (second) {
      if (again) readersAgain++
      else readersKept++
    }
    if (!again) continue
    // modelHost's two passes for this flow: the first pass alone reads the cap's value.
    const first = !second || readsCap(f) ? modelOne(host, f) : undefined
    const model = second ? modelOne(capped, f) : first!
    if (second && (first ? first.portExhaustion : base.firstPortExhaustion(i)) && !model.portExhaustion) kept.push(model.flow)
    finishFlow(f, model, acc, acc.flowEntries[i]!)
    models[i] = model
  }
  // Every share reader modelled again: `kept` is complete. None: the base's list holds (same models, same share).
  if (readersAgain > 0 && readersKept > 0) return null
  const keptByOverflow = share === 0 ? [] : readersKept === 0 ? kept : base.result.host.twOverflowKeepsPortsFor
  return {host: hostModelOf(host, acc, models.some((m) => collisionRemedyCap(host, m)), keptByOverflow), flows: models}
}

function movableFlows(base: ModelledHost, readsShare: (host: HostParams, flow: Flow) => boolean, readsCap: (flow: Flow) => boolean): number[] {
  const out: number[] = []
  const entries = base.totals.acc.flowEntries
  base.flows.forEach((f, i) => {
    const m = base.result.flows[i]!
    // readsShare on the base's settings: modelHostUnder takes only settings where it is the same.
    if (readsCap(f) || readsShare(base.host, f) || m.bindBeforeConnect || m.timeWaitOnThisHost || entries[i] !== 0 || !Object.is(m.twOverflowShare, 0)) out.push(i)
  })
  return out
}

/** What the host-level step adds to one flow's model (modelHost; the engine's one-flow re-runs). */
export function finishFlow(f: Flow, m: FlowModel, acc: HostAccounting, entries: number): void {
  m.timeWaitEntries = entries * (1 - acc.twOverflowShare)
  m.twOverflowShare = m.timeWaitOnThisHost ? acc.twOverflowShare : 0
  m.bindBeforeConnect = f.role === 'client' && f.bind_before_connect === true
  m.bindTuplesPerAddress = m.bindBeforeConnect ? acc.bindTuplesPerAddress : null
  m.bindUsablePorts = m.bindBeforeConnect ? acc.bindUsablePorts : null
  m.bindExhaustion = m.bindBeforeConnect && m.timeWaitOnThisHost && acc.bindExhausted
  if (m.bindExhaustion) {
    // What this flow may keep per address once the others' entries are counted.
    const own = (f.qps * m.timeWaitSeconds * (1 - acc.twOverflowShare)) / acc.bindAddresses
    const room = acc.bindUsablePorts - (acc.bindTuplesPerAddress - own)
    const qps = (room * acc.bindAddresses) / (m.timeWaitSeconds * (1 - acc.twOverflowShare)) / (1 + REMEDY_HEADROOM)
    m.bindTargetQps = qps > 0 ? qps : null
  }
  // A bound socket's port was chosen by bind(), not connect(): its limit is the bind space.
  if (m.bindBeforeConnect) m.portExhaustion = false
  applyCloudNat(f, m)
}

/** A server flow whose collisions the host's tcp_max_tw_buckets already caps (host.twCapIsCollisionRemedy is any of them). */
export function collisionRemedyCap(host: HostParams, m: FlowModel): boolean {
  const cap = host.maxTwBuckets
  return cap !== null && m.role === 'server' && m.sharedAddresses && m.twBucketsForSafeReuse !== null && cap <= m.twBucketsForSafeReuse
}

/** The host's model from its accounting; `twCapIsCollisionRemedy` and `keptByOverflow` come from the flows' models. */
export function hostModelOf(host: HostParams, acc: HostAccounting, twCapIsCollisionRemedy: boolean, keptByOverflow: string[]): HostModel {
  const cap = host.maxTwBuckets
  const conntrackMax = host.conntrackMax
  const conntrackFull = conntrackMax !== null && acc.conntrackEntries !== null && acc.conntrackEntries > conntrackMax
  return {
    timeWaitTuples: acc.timeWaitTuples,
    maxTwBuckets: cap,
    twOverflow: cap !== null && acc.timeWaitTuples > cap,
    twCapIsCollisionRemedy,
    timeWaitSeconds: host.timeWaitSeconds,
    kernelCode: kernelCode(host.kernel),
    maxTwBucketsSource: host.maxTwBucketsSource,
    maxTwBucketsEstimated: host.maxTwBucketsSource !== 'sysctl',
    twOverflowShare: acc.twOverflowShare,
    twOverflowTuples: cap === null ? 0 : Math.max(0, acc.timeWaitTuples - cap),
    twOverflowKeepsPortsFor: keptByOverflow,
    conntrackEntries: acc.conntrackEntries,
    conntrackMax,
    conntrackFull,
    // Less 1e-9 as in flow.ts: 6,000 × 1.1 is 6600.000000000001 in floating point, not 6,601 entries.
    conntrackMaxNeeded: conntrackFull ? Math.ceil(acc.conntrackEntries! * (1 + REMEDY_HEADROOM) - 1e-9) : null,
    facts: host.facts,
  }
}

export function flowShape(host: HostParams, flow: Flow, m: FlowModel, hostPorts?: number): FlowShape {
  const bbc = flow.role === 'client' && flow.bind_before_connect === true
  // The ports the closing side's tuples can use: the client's own range when this host is the
  // client, else the range the server sees (the clients', or the NAT pool).
  const ports = flow.role === 'client' ? (hostPorts ?? usablePorts(host.portRange, host.reservedPorts)) : m.usablePorts
  return {
    role: flow.role,
    closesFirst: flow.closes_first,
    qps: flow.qps,
    timeWaitSeconds: m.timeWaitSeconds,
    timeWaitOnThisHost: m.timeWaitOnThisHost,
    tupleSpaceBound: ports * (bbc ? flow.client_addresses : m.tupleSpaces),
    bindBeforeConnect: bbc,
    clientAddresses: flow.client_addresses,
    conntrackHoldSeconds: flow.role === 'nat' && flow.nat ? flow.nat.conntrack_time_wait : host.conntrackTimeWaitSeconds ?? DEFAULT_CONNTRACK_TIME_WAIT_SECONDS,
  }
}

/**
 * flowShape without the flow's model, for every flow: the four fields it reads (timeWaitSeconds,
 * timeWaitOnThisHost, usablePorts, tupleSpaces) worked out as modelFlow works them out, for
 * accounting the host under other settings without modelling every flow again.
 */
export function shapesOf(host: HostParams, flows: Flow[]): FlowShape[] {
  const hostPorts = usablePorts(host.portRange, host.reservedPorts)
  return flows.map((flow) => {
    const thisHostCloses = flow.role !== 'nat' && flow.role === flow.closes_first
    const fields = {
      timeWaitSeconds: thisHostCloses ? host.timeWaitSeconds : TCP_TIMEWAIT_SECONDS,
      timeWaitOnThisHost: thisHostCloses,
      // modelFlow's port source; a client's own range is the host's (hostPorts).
      usablePorts: flow.role === 'client' ? hostPorts : sourcePorts(flow),
      tupleSpaces: flow.client_addresses * flow.server_endpoints,
    }
    return flowShape(host, flow, fields as FlowModel, hostPorts)
  })
}

/** Usable ports of a server or NAT flow's source range (the NAT pool, the clients' declared or default range), once per flow. */
const sourcePortsOf = new WeakMap<Flow, number>()
function sourcePorts(flow: Flow): number {
  let n = sourcePortsOf.get(flow)
  if (n === undefined) sourcePortsOf.set(flow, (n = usablePorts(flow.nat ? flow.nat.port_range : (flow.client_port_range ?? DEFAULT_PORT_RANGE), [])))
  return n
}

/**
 * Does tcp_tw_reuse let this client flow's connect() take a TIME_WAIT port? 1: toward any peer.
 * 2 (the default since 4.19): only toward loopback (127.0.0.0/8, ::1, v4-mapped loopback; a
 * socket bound to lo also counts, which a topology cannot say). Before 4.19 the kernel only
 * tested the value for non-zero, so 2 meant "on" (tcp_twsk_unique, KERNEL.md).
 */
export function twReuseApplies(host: HostParams, flow: Flow): boolean {
  if (host.twReuse === null || host.twReuse === 0) return false
  if (host.twReuse === 2 && host.facts.tw_reuse_loopback) return isLoopbackPeer(flow.peer)
  return true
}

/** isLoopbackPeer by peer (every client flow's model asks, per flow and remedy). */
const loopbackPeers = new Map<string, boolean>()

export function isLoopbackPeer(peer: string): boolean {
  let loop = loopbackPeers.get(peer)
  if (loop === undefined) {
    // Bounded: a long-lived caller may see many peers.
    if (loopbackPeers.size >= 100_000) loopbackPeers.clear()
    loopbackPeers.set(peer, (loop = loopbackOf(peer)))
  }
  return loop
}

function loopbackOf(peer: string): boolean {
  let ip: string
  try {
    ip = parsePeer(peer).host.toLowerCase()
  } catch {
    return false
  }
  if (ip === 'localhost') return true
  if (ip === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(ip)) return true
  const v4 = /^(?:::ffff:)?(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(ip)
  return v4 !== null && v4[1] === '127'
}
