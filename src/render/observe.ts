import {parseKernel} from '../facts/kernel.js'
import {factHolds} from '../facts/kernel-facts.js'
import {formatNumber} from '../rules/cel.js'
import type {Observation} from '../sources/observe.js'

/**
 * What each counter means for this problem, in a few words, on this kernel (KERNEL.md,
 * "Evidence on a live host"; the version gates are rows of src/facts/kernel-facts.ts).
 */
export function counterMeanings(kernel: string | null): Record<string, string> {
  const pawsSplit = factHolds('paws_timewait_counter', kernel === null ? null : parseKernel(kernel))
  return {
    TcpActiveOpens: 'new outgoing connections (client side QPS)',
    TcpPassiveOpens: 'new accepted connections (server side QPS)',
    TcpAttemptFails: 'connects that failed (EADDRNOTAVAIL is NOT counted)',
    TcpEstabResets: 'established connections reset',
    TcpOutRsts: 'RSTs sent',
    // Both count TIME_WAIT timers as they are armed, not entries as they end.
    TcpExtTW: 'TIME_WAIT timers armed for more than 4 s (the normal 60 s); counted when armed',
    TcpExtTWKilled: 'TIME_WAIT timers armed for at most 4 s; entries an RST clears are counted nowhere',
    TcpExtTWRecycled: 'TIME_WAIT ports reused by connect() (tcp_tw_reuse)',
    TcpExtTCPTimeWaitOverflow: 'closes that skipped TIME_WAIT (tcp_max_tw_buckets full)',
    ...(pawsSplit
      ? {TcpExtPAWSTimewait: 'SYNs dropped on a TIME_WAIT tuple (PAWS): stalls'}
      : {TcpExtPAWSEstab: 'PAWS drops, established AND TIME_WAIT (this kernel has no PAWSTimewait, 6.16+)'}),
    TcpExtTCPACKSkippedTimeWait: 'ACKs to TIME_WAIT tuples rate-limited',
    TcpExtTCPSynRetrans: 'SYN retransmits (client-side stalls)',
  }
}

export function renderObservation(o: Observation): string {
  const lines = [`${o.source}: counters over ${o.intervalSeconds.toFixed(1)} s${o.kernel ? ` (kernel ${o.kernel})` : ''}`, '']
  const meanings = counterMeanings(o.kernel)
  const w = Math.max(...Object.keys(meanings).map((k) => k.length))
  for (const [k, meaning] of Object.entries(meanings)) {
    const r = o.rates[k]
    if (r === undefined) continue
    lines.push(`  ${k.padEnd(w)}  ${formatNumber(r).padStart(9)}/s  total ${formatNumber(o.totals[k] ?? 0).padStart(12)}  ${meaning}`)
  }
  lines.push('', `  TIME_WAIT sockets now: ${o.timeWaitSockets === undefined ? 'unknown' : formatNumber(o.timeWaitSockets)}`)
  if (o.timeWaitByPeer.length) {
    lines.push('  TIME_WAIT per peer (ss -tan state time-wait):')
    for (const p of o.timeWaitByPeer) lines.push(`    ${String(p.sockets).padStart(8)}  ${p.peer}`)
  }
  return lines.join('\n')
}
