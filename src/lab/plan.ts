import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {parsePeer} from '../topology/peer.js'
import type {Flow} from '../topology/types.js'
import {DEFAULT_PORT_RANGE} from '../model/constants.js'
import {isLoopbackPeer, type LabFlow, type PortMode} from './predict.js'

/**
 * What the lab builds for one flow, decided before anything touches the system: namespaces,
 * addresses (198.18.0.0/15 only), sysctls per namespace, the SNAT rule, rates. Pure.
 */

/** Caps that keep a lab run sane on a small machine (the report says when they bit). */
export const MAX_SENDERS = 8
export const MAX_ENDPOINTS = 4
export const MAX_CLIENT_ADDRESSES = 8
/** The Node driver sustains this many new connections per second on two cores, measured. */
export const MAX_LAB_QPS = 400
export const MAX_ATTEMPTS_PER_PHASE = 20_000
export const DEFAULT_PHASE_SECONDS = 20
/**
 * With --scale the whole run stays within 60 s: two phases, each followed by at most
 * 2 x 5 s of connect timeouts draining (rarely), plus about 2 s of setup each.
 */
export const SCALED_PHASE_SECONDS = 22

/** Per-namespace sysctls the lab copies from the host's facts to the namespace playing it. */
export const LAB_KEYS = [
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_tw_reuse_delay',
  'net.ipv4.tcp_timestamps',
  'net.ipv4.tcp_max_tw_buckets',
  'net.ipv4.tcp_rfc1337',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_tw_timeout',
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait',
] as const

export interface ScaleReport {
  factor: number
  qps: [number, number]
  port_range?: [string, string]
  client_port_range?: [string, string]
  nat_port_range?: [string, string]
  tcp_max_tw_buckets?: [string, string]
  phase_seconds: number
  capped?: string[]
}

export interface ClientNs {
  label: string
  addr: string
  gateway: string
  ifRouter: string
  routerAddr: string
  rate: number
  /** This sender's own ip_local_port_range when the flow gives each sender one (lab scenarios). */
  portRange?: [number, number]
}

export interface LabPlan {
  /** The flow as run (scaled); the model's prediction is made for this flow. */
  flow: Flow
  /** The host's facts as applied in the lab (scaled), for the prediction. */
  facts: Facts
  scaled: ScaleReport | null
  clients: ClientNs[]
  /** SNAT on the router: addresses and port pool; null when packets are only routed. */
  nat: {addresses: string[]; portRange: [number, number]; conntrackTimeWait: number; mode: PortMode} | null
  serverAddrs: string[]
  serverPort: number
  /** Sysctls per namespace label ("client" applies to every client namespace). */
  sysctls: {client: Record<string, string>; router: Record<string, string>; server: Record<string, string>}
  /** Seconds of each measured window (runLab sizes it to decide; see phaseLengths). */
  phaseSeconds: number
  timeoutMs: number
  /** The peer is a loopback address: client and server share one namespace and talk over lo. */
  loopback: boolean
  notes: string[]
}

export interface PlanOptions {
  /** A factor in (0, 1], or "auto" to fit the driver's rate; undefined runs as declared. */
  scale?: number | 'auto'
  phaseSeconds?: number
  timeoutMs?: number
}

const range = (v: string | undefined): [number, number] | null => {
  const p = (v ?? '').trim().split(/\s+/).map(Number)
  return p.length === 2 && p.every(Number.isFinite) ? [p[0]!, p[1]!] : null
}

/**
 * Shrink a port range by `k`, keeping its low end and its parity layout (low end's parity
 * first, an even number of ports) so connect()'s two passes keep their shares.
 */
export function scaleRange(r: [number, number], k: number): [number, number] {
  if (k >= 1) return r
  let size = Math.max(2, Math.round((r[1] - r[0] + 1) * k))
  if (size % 2 === 1) size += 1
  return [r[0], r[0] + size - 1]
}

export function autoScale(flow: Flow): number {
  return flow.qps <= MAX_LAB_QPS ? 1 : MAX_LAB_QPS / flow.qps
}

export function planLab(flowIn: Flow, factsIn: Facts, opts: PlanOptions = {}): LabPlan {
  const notes: string[] = []
  const capped: string[] = []
  const k = opts.scale === undefined ? 1 : opts.scale === 'auto' ? autoScale(flowIn) : opts.scale
  if (!(k > 0 && k <= 1)) throw new TwError('lab.scale', `--scale must be "auto" or a factor in (0, 1], got ${String(opts.scale)}`)
  if (opts.scale === undefined && flowIn.qps > MAX_LAB_QPS) {
    throw new TwError('lab.rate', `flow "${flowIn.name}" declares ${flowIn.qps} connections/s; the lab's driver sustains about ${MAX_LAB_QPS}/s`, {
      hint: 'add --scale auto: port ranges and rates shrink together, so the ratios that matter stay the same',
    })
  }
  if (flowIn.keepalive) notes.push('the flow declares keep-alive; the lab opens one connection per request (the worst case)')

  // --- scale: rates and port ranges by the same factor (reuse intervals in seconds stay put).
  const flow: Flow = {...flowIn, qps: flowIn.qps * k}
  const sysctls: Record<string, string> = {}
  for (const key of LAB_KEYS) {
    const v = factsIn.sysctls[key]
    if (v !== undefined) sysctls[key] = v
  }
  // runLab replaces the default with what the flow needs (phaseSecondsFor) unless one was given.
  const phaseSeconds = Math.min(opts.phaseSeconds ?? DEFAULT_PHASE_SECONDS, opts.scale === undefined ? 600 : SCALED_PHASE_SECONDS)
  const scaled: ScaleReport | null = opts.scale === undefined ? null : {factor: round(k, 4), qps: [flowIn.qps, round(flow.qps, 2)], phase_seconds: phaseSeconds}
  const fmt = (r: [number, number]) => `${r[0]} ${r[1]}`
  const hostRange = range(sysctls['net.ipv4.ip_local_port_range'])
  if (hostRange && k < 1) {
    const r = scaleRange(hostRange, k)
    sysctls['net.ipv4.ip_local_port_range'] = fmt(r)
    if (scaled) scaled.port_range = [fmt(hostRange), fmt(r)]
  }
  if (flowIn.client_port_range && k < 1) {
    flow.client_port_range = scaleRange(flowIn.client_port_range, k)
    if (scaled) scaled.client_port_range = [fmt(flowIn.client_port_range), fmt(flow.client_port_range)]
  }
  if (flowIn.nat && k < 1) {
    flow.nat = {...flowIn.nat, port_range: scaleRange(flowIn.nat.port_range, k)}
    if (scaled) scaled.nat_port_range = [fmt(flowIn.nat.port_range), fmt(flow.nat.port_range)]
  }
  const buckets = sysctls['net.ipv4.tcp_max_tw_buckets']
  if (buckets !== undefined && k < 1) {
    const b = String(Math.max(1, Math.round(Number(buckets) * k)))
    sysctls['net.ipv4.tcp_max_tw_buckets'] = b
    if (scaled) scaled.tcp_max_tw_buckets = [buckets, b]
  }

  // --- who is who. Senders behind fewer addresses need a NAT (or proxy) in the lab.
  const senders = Math.min(flow.senders, MAX_SENDERS)
  if (flow.senders > MAX_SENDERS) capped.push(`senders ${flow.senders} -> ${MAX_SENDERS}`)
  const addresses = Math.min(flow.client_addresses, MAX_CLIENT_ADDRESSES, senders)
  if (flow.client_addresses > addresses) capped.push(`client_addresses ${flow.client_addresses} -> ${addresses}`)
  const endpoints = Math.min(flow.server_endpoints, MAX_ENDPOINTS)
  if (flow.server_endpoints > MAX_ENDPOINTS) capped.push(`server_endpoints ${flow.server_endpoints} -> ${MAX_ENDPOINTS}`)
  const needNat = flow.nat !== undefined || senders > addresses
  if (!flow.nat && needNat) notes.push('senders share fewer addresses than they are: the lab puts them behind SNAT with the clients\' port range')

  const clients: ClientNs[] = Array.from({length: senders}, (_, i) => ({
    label: `client${i + 1}`,
    addr: `198.18.${i + 1}.2`,
    gateway: `198.18.${i + 1}.1`,
    ifRouter: `c${i + 1}`,
    routerAddr: `198.18.${i + 1}.1`,
    rate: flow.qps / senders,
    ...((flow as LabFlow).sender_port_ranges?.[i] ? {portRange: (flow as LabFlow).sender_port_ranges![i]!} : {}),
  }))
  const {host: peerHost, port: serverPort} = parsePeer(flow.peer)
  const loopback = isLoopbackPeer(flow)
  if (loopback && (senders > 1 || endpoints > 1 || flow.nat)) {
    throw new TwError('lab.loopback', `flow "${flow.name}" has a loopback peer (${flow.peer}): the lab runs it with one sender, one endpoint and no NAT`)
  }
  const serverAddrs = loopback ? [peerHost] : Array.from({length: endpoints}, (_, i) => `198.19.0.${i + 2}`)


  const clientSys: Record<string, string> = {}
  const serverSys: Record<string, string> = {}
  const routerSys: Record<string, string> = {'net.ipv4.ip_forward': '1'}
  const role = flow.role
  const target = role === 'client' ? clientSys : role === 'server' ? serverSys : routerSys
  for (const [key, v] of Object.entries(sysctls)) {
    if (key.startsWith('net.netfilter.')) continue
    target[key] = v
  }
  // The clients' range as declared on a server/NAT flow (the host's own applies for role client).
  if (role !== 'client' && flow.client_port_range) clientSys['net.ipv4.ip_local_port_range'] = fmt(flow.client_port_range)

  let nat: LabPlan['nat'] = null
  if (needNat) {
    const pool = flow.nat?.port_range ?? flow.client_port_range ?? range(clientSys['net.ipv4.ip_local_port_range']) ?? DEFAULT_PORT_RANGE
    const ct =
      role === 'nat' && sysctls['net.netfilter.nf_conntrack_tcp_timeout_time_wait'] !== undefined
        ? Number(sysctls['net.netfilter.nf_conntrack_tcp_timeout_time_wait'])
        : flow.nat?.conntrack_time_wait ?? 120
    const mode = (flow as LabFlow).nat?.port_mode ?? 'preserve'
    // One NAT address is the router's own (masquerade picks it); more are added beside it.
    const natAddrs = addresses === 1 ? ['198.19.0.1'] : Array.from({length: addresses}, (_, i) => `198.19.0.${101 + i}`)
    nat = {addresses: natAddrs, portRange: pool, conntrackTimeWait: ct, mode}
    routerSys['net.netfilter.nf_conntrack_tcp_timeout_time_wait'] = String(ct)
  }
  if (capped.length > 0 && scaled) scaled.capped = capped
  else if (capped.length > 0) notes.push(`capped: ${capped.join(', ')}`)

  const facts: Facts = {...factsIn, sysctls: {...factsIn.sysctls, ...sysctls}}
  // The flow as the lab runs it (caps applied), so the prediction is for what was measured.
  const flowRun: Flow = {...flow, senders, client_addresses: addresses, server_endpoints: endpoints}
  return {
    flow: flowRun,
    facts,
    scaled,
    clients,
    nat,
    serverAddrs,
    serverPort,
    sysctls: {client: clientSys, router: routerSys, server: serverSys},
    phaseSeconds,
    timeoutMs: opts.timeoutMs ?? 5000,
    loopback,
    notes,
  }
}

/** Linux SNAT's own pool when a rule names no range (nf_nat_core.c: 1024-65535 for ports >= 1024). */
export const NAT_NO_RANGE: [number, number] = [1024, 65535]

/**
 * The SNAT ruleset for the router, built from what the flow declares: `masquerade` (one NAT
 * address: the router's) or `snat to ADDR` (several), with the pool as `:lo-hi` unless it is
 * the kernel's own no-range pool, and the port mode as the rule's flag. `preserve` is Linux's
 * default (keep the sender's port when that tuple is free and inside the range), `random`
 * randomizes the port choice and `fully-random` uses a full per-connection random offset
 * (kube-proxy's masquerade rule).
 */
export function natRuleset(plan: LabPlan): string | null {
  if (!plan.nat) return null
  const {addresses: addrs, mode} = plan.nat
  const [lo, hi] = plan.nat.portRange
  const ports = lo === NAT_NO_RANGE[0] && hi === NAT_NO_RANGE[1] ? '' : `:${lo}-${hi}`
  const flag = mode === 'preserve' ? '' : ` ${mode}`
  // Senders are spread over the NAT addresses round-robin (the kernel would hash them, unevenly),
  // so each address carries the share of the rate the model assumes.
  const rules =
    addrs.length === 1
      ? [`    oifname "srv" ip protocol tcp masquerade${ports ? ` to ${ports}` : ''}${flag}`]
      : plan.clients.map((c, i) => `    oifname "srv" ip saddr ${c.addr} ip protocol tcp snat to ${addrs[i % addrs.length]!}${ports}${flag}`)
  return ['table ip twlab {', '  chain post {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }', '}', ''].join('\n')
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
