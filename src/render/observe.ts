import {formatNumber} from '../rules/cel.js'
import type {Observation} from '../sources/observe.js'

/** What each counter means for this problem, in a few words. */
const MEANING: Record<string, string> = {
  TcpActiveOpens: 'new outgoing connections (client side QPS)',
  TcpPassiveOpens: 'new accepted connections (server side QPS)',
  TcpAttemptFails: 'connects that failed (EADDRNOTAVAIL is NOT counted)',
  TcpEstabResets: 'established connections reset',
  TcpOutRsts: 'RSTs sent',
  TcpExtTW: 'sockets that finished TIME_WAIT',
  TcpExtTWRecycled: 'TIME_WAIT ports reused by connect() (tcp_tw_reuse)',
  TcpExtTWKilled: 'TIME_WAIT entries killed early',
  TcpExtTCPTimeWaitOverflow: 'closes that skipped TIME_WAIT (tcp_max_tw_buckets full)',
  TcpExtPAWSTimewait: 'SYNs dropped on a TIME_WAIT tuple (PAWS): stalls',
  TcpExtTCPACKSkippedTimeWait: 'ACKs to TIME_WAIT tuples rate-limited',
  TcpExtTCPSynRetrans: 'SYN retransmits (client-side stalls)',
}

export function renderObservation(o: Observation): string {
  const lines = [`${o.source}: counters over ${o.intervalSeconds.toFixed(1)} s`, '']
  const w = Math.max(...Object.keys(MEANING).map((k) => k.length))
  for (const [k, meaning] of Object.entries(MEANING)) {
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
