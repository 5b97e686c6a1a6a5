import type {Facts} from '../facts/types.js'
import {parseKernel, type KernelVersion} from '../facts/kernel.js'
import {
  DEFAULT_CONNTRACK_TIME_WAIT_SECONDS,
  DEFAULT_PORT_RANGE,
  DEFAULT_TW_REUSE_DELAY_MS,
  DEFAULT_UNPRIVILEGED_PORT_START,
  TCP_TIMEWAIT_SECONDS,
} from './constants.js'

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
  timestamps: number
  maxTwBuckets: number | null
  rfc1337: number
  /** tcp_tw_recycle: present only on kernels before 4.12 (and vendor 3.10 kernels). */
  twRecycle: number | null
  finTimeoutSeconds: number | null
  /** A vendor TIME_WAIT length (net.ipv4.tcp_tw_timeout on Alibaba Cloud Linux), when the kernel has one. */
  vendorTimeWaitSeconds: number | null
  conntrackTimeWaitSeconds: number | null
  /** The TIME_WAIT length this host really applies. */
  timeWaitSeconds: number
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
  return {
    kernel: override ?? facts.kernel,
    kernelOverridden: override !== null,
    portRange: hasRange ? [range[0]!, range[1]!] : DEFAULT_PORT_RANGE,
    portRangeDeclared: hasRange,
    reservedPorts: parsePortList(s['net.ipv4.ip_local_reserved_ports']),
    unprivilegedPortStart: num(s['net.ipv4.ip_unprivileged_port_start']) ?? DEFAULT_UNPRIVILEGED_PORT_START,
    twReuse: num(s['net.ipv4.tcp_tw_reuse']),
    twReuseDelayMs: num(s['net.ipv4.tcp_tw_reuse_delay']) ?? DEFAULT_TW_REUSE_DELAY_MS,
    timestamps: num(s['net.ipv4.tcp_timestamps']) ?? 1,
    maxTwBuckets: num(s['net.ipv4.tcp_max_tw_buckets']),
    rfc1337: num(s['net.ipv4.tcp_rfc1337']) ?? 0,
    twRecycle: num(s['net.ipv4.tcp_tw_recycle']),
    finTimeoutSeconds: num(s['net.ipv4.tcp_fin_timeout']),
    vendorTimeWaitSeconds: vendor,
    conntrackTimeWaitSeconds: num(s['net.netfilter.nf_conntrack_tcp_timeout_time_wait']) ?? null,
    timeWaitSeconds: vendor ?? TCP_TIMEWAIT_SECONDS,
  }
}

export {DEFAULT_CONNTRACK_TIME_WAIT_SECONDS}
