import type {Attempt} from './driver.js'

/** A connect slower than this is a stall: the 1 s SYN retransmit is what it catches. */
export const SLOW_MS = 500

/** The counters that explain what a phase measured (nstat names). */
export const LAB_COUNTERS = [
  'TcpExtPAWSTimewait',
  // Before 6.16 a PAWS reject in TIME_WAIT is counted here (KERNEL.md; the uml layer runs 6.1).
  'TcpExtPAWSEstab',
  'TcpExtTCPACKSkippedTimeWait',
  'TcpExtTWRecycled',
  'TcpExtTCPTimeWaitOverflow',
  'TcpOutRsts',
  'TcpExtTCPSynRetrans',
  'TcpActiveOpens',
  'TcpPassiveOpens',
] as const

export interface Failures {
  EADDRNOTAVAIL: number
  reset: number
  timeout: number
  other?: number
}

export interface PhaseStats {
  attempts: number
  ok: number
  failures: Failures
  slow: number
  p50_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  /** Successful connects before the first EADDRNOTAVAIL, per client namespace (null: none). */
  connects_before_first_EADDRNOTAVAIL: (number | null)[]
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** One phase's attempts (one list per client namespace) to the figures the report prints. */
export function summarize(perClient: Attempt[][]): PhaseStats {
  const all = perClient.flat()
  const failures: Failures = {EADDRNOTAVAIL: 0, reset: 0, timeout: 0}
  let other = 0
  let ok = 0
  let slow = 0
  const latencies: number[] = []
  for (const [, ms, kind] of all) {
    if (kind === 'ok') ok++
    else if (kind === 'other') other++
    else failures[kind]++
    if (ms !== null) {
      latencies.push(ms)
      if (ms > SLOW_MS) slow++
    }
  }
  if (other > 0) failures.other = other
  latencies.sort((a, b) => a - b)
  const r = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10)
  return {
    attempts: all.length,
    ok,
    failures,
    slow,
    p50_ms: r(percentile(latencies, 50)),
    p99_ms: r(percentile(latencies, 99)),
    max_ms: r(latencies.length ? latencies[latencies.length - 1]! : null),
    connects_before_first_EADDRNOTAVAIL: perClient.map(connectsBeforeFirstExhaustion),
  }
}

/** Attempts that connected before (in launch order) the first EADDRNOTAVAIL. */
export function connectsBeforeFirstExhaustion(attempts: Attempt[]): number | null {
  const sorted = [...attempts].sort((a, b) => a[0] - b[0])
  const first = sorted.findIndex((a) => a[2] === 'EADDRNOTAVAIL')
  if (first < 0) return null
  return sorted.slice(0, first).filter((a) => a[1] !== null).length
}

export function failureCount(f: Failures): number {
  return f.EADDRNOTAVAIL + f.reset + f.timeout + (f.other ?? 0)
}

/** Counter deltas for the lab's counters, per namespace label. */
export function counterDeltas(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const k of LAB_COUNTERS) out[k] = (after[k] ?? 0) - (before[k] ?? 0)
  return out
}
