import type {Facts} from '../facts/types.js'
import {hostParams} from '../model/host.js'
import {firstParityPorts, usablePorts} from '../model/ports.js'
import {formatNumber} from '../rules/cel.js'

/**
 * What the wizard found on the host before asking anything: the settings the answers will be
 * judged against, in the words the findings use. Plain lines; the caller styles and prints.
 */
export interface HostSummary {
  lines: string[]
  /** Defaults the questions take from the host. */
  portRange: [number, number]
  conntrackTimeWaitSeconds: number | null
  hostname: string | undefined
}

const TW_REUSE: Record<string, string> = {
  '0': 'off',
  '1': 'on for outgoing connections (needs tcp_timestamps)',
  '2': 'loopback only; the default since 4.19',
}

export function summarizeHost(facts: Facts): HostSummary {
  const p = hostParams(facts)
  const s = facts.sysctls
  const where = facts.source === 'live' ? 'this host (/proc)' : facts.source
  const rows: [string, string][] = []
  rows.push(['kernel', facts.kernel?.raw ?? 'unknown (no kernel.osrelease)'])
  const usable = usablePorts(p.portRange, p.reservedPorts)
  const parity = firstParityPorts(p.portRange, p.reservedPorts)
  const reserved = usable < p.portRange[1] - p.portRange[0] + 1 ? `, ${formatNumber(p.portRange[1] - p.portRange[0] + 1 - usable)} reserved` : ''
  rows.push([
    'ip_local_port_range',
    `${p.portRange[0]}-${p.portRange[1]}${p.portRangeDeclared ? '' : ' (not read; the default)'}: ${formatNumber(usable)} source ports per destination${reserved}, ${formatNumber(parity)} used first`,
  ])
  rows.push(['tcp_tw_reuse', p.twReuse === null ? 'absent' : `${p.twReuse} (${TW_REUSE[String(p.twReuse)] ?? 'unknown value'})`])
  rows.push(['tcp_timestamps', String(p.timestamps)])
  rows.push([
    'tcp_max_tw_buckets',
    p.maxTwBuckets === null
      ? 'not read'
      : `${formatNumber(p.maxTwBuckets)}${p.maxTwBucketsSource === 'sysctl' ? '' : ` (not read; the kernel default estimated from ${p.maxTwBucketsSource})`}`,
  ])
  if (p.finTimeoutSeconds !== null) rows.push(['tcp_fin_timeout', `${p.finTimeoutSeconds} s (FIN_WAIT_2, not the TIME_WAIT length)`])
  rows.push([
    'TIME_WAIT length',
    p.vendorTimeWaitSeconds !== null ? `${p.vendorTimeWaitSeconds} s (net.ipv4.tcp_tw_timeout, a vendor knob)` : `${p.timeWaitSeconds} s (fixed in mainline kernels)`,
  ])
  if (p.twRecycle !== null) rows.push(['tcp_tw_recycle', `${p.twRecycle} (removed in 4.12; breaks clients behind NAT)`])
  if (p.rfc1337 !== 0) rows.push(['tcp_rfc1337', `${p.rfc1337} (makes TIME_WAIT collisions worse)`])
  if (p.conntrackTimeWaitSeconds !== null) rows.push(['conntrack time_wait', `${p.conntrackTimeWaitSeconds} s (nf_conntrack_tcp_timeout_time_wait)`])
  if (facts.timeWaitSockets !== undefined) rows.push(['TIME_WAIT now', `${formatNumber(facts.timeWaitSockets)} sockets (/proc/net/sockstat)`])
  else if (facts.source === 'live') rows.push(['TIME_WAIT now', 'unknown (/proc/net/sockstat not readable)'])
  const width = Math.max(...rows.map(([k]) => k.length))
  return {
    lines: [`Read from ${where}:`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)],
    portRange: p.portRange,
    conntrackTimeWaitSeconds: p.conntrackTimeWaitSeconds,
    hostname: s['kernel.hostname'],
  }
}
