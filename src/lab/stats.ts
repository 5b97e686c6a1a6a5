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
  /** Attempts that failed or connected in over SLOW_MS: the harm definition's stalls. */
  stalled: number
  p50_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  /**
   * Source ports (across clients: one NAT tuple each) with STUCK_MIN_STALLS stalls or more: a stuck tuple
   * (FlowModel.stuckTupleShare) where chanceStuckPorts says independent stalls would not do that.
   */
  stuck_ports: number
  /** The stalls on those ports. */
  stuck_stalls: number
  /** Ports with more than one stall, most first (at most 20): [client index, port, stalls, attempts]. */
  repeated_stall_ports: StallPort[]
  /** Distinct source ports that made an attempt, across clients. */
  ports_used: number
  /** Successful connects before the first EADDRNOTAVAIL, per client namespace (null: none). */
  connects_before_first_EADDRNOTAVAIL: (number | null)[]
}

/**
 * Stalls on one source port (counted across senders: one NAT tuple behind a port-preserving NAT)
 * before the report calls it stuck: a stuck tuple fails every connect while it lasts, and can come free and
 * stick again. Whether 3 could be chance depends on the independent stall rate: see
 * chanceStuckPorts, which decides whether the lab may judge stuck ports apart.
 */
export const STUCK_MIN_STALLS = 3

const stalledAttempt = ([, ms, kind]: Attempt): boolean => kind !== 'ok' || (ms !== null && ms > SLOW_MS)

/** One port with more than one stall: [client index, port, stalls, attempts]. */
export type StallPort = [client: number, port: number, stalls: number, attempts: number]

/** Ports (per client) with repeated stalls, most first, at most `limit` of them. */
export function repeatedStallPorts(perClient: Attempt[][], limit = 20): StallPort[] {
  const out: StallPort[] = []
  perClient.forEach((attempts, client) => {
    const byPort = new Map<number, {n: number; stalled: number}>()
    for (const a of attempts) {
      if (a[3] === null) continue
      const c = byPort.get(a[3]) ?? {n: 0, stalled: 0}
      c.n++
      if (stalledAttempt(a)) c.stalled++
      byPort.set(a[3], c)
    }
    for (const [port, c] of byPort) if (c.stalled > 1) out.push([client, port, c.stalled, c.n])
  })
  out.sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1])
  return out.slice(0, limit)
}

/**
 * Ports with STUCK_MIN_STALLS stalls or more, and their stalls. A port counts across clients:
 * behind a port-preserving NAT every sender's port p leaves as the same tuple (NAT address, p),
 * and a stuck tuple fails whichever sender the NAT hands it to (lab: both senders' port 40998
 * stalled, 7 and 8 times). Elsewhere this only reports; the lab judges stuck ports apart only
 * where the model expects stuck tuples (run.ts, separatesStuck).
 */
export function stuckPorts(perClient: Attempt[][]): {ports: number; stalls: number} {
  return stuckOf(stallsByPort(perClient))
}

/** Stalls per source port across clients; every port that made an attempt is in it (0 stalls too). */
function stallsByPort(perClient: Attempt[][]): Map<number, number> {
  const byPort = new Map<number, number>()
  for (const attempts of perClient) for (const a of attempts) if (a[3] !== null) byPort.set(a[3], (byPort.get(a[3]) ?? 0) + (stalledAttempt(a) ? 1 : 0))
  return byPort
}

function stuckOf(byPort: Map<number, number>): {ports: number; stalls: number} {
  let ports = 0
  let stalls = 0
  for (const n of byPort.values()) {
    if (n >= STUCK_MIN_STALLS) {
      ports++
      stalls += n
    }
  }
  return {ports, stalls}
}

/**
 * Expected number of ports with STUCK_MIN_STALLS or more stalls if stalls were independent at
 * `share` per connect, spread evenly over `ports` (Poisson per port). Below CHANCE_STUCK_PORTS,
 * a port that stalled that often is a stuck tuple, not luck. Why B: 0.0193 % over 18,000 connects
 * on 500 ports (both senders use the same 500 even ones) gives 0.00003; a 1 % share over 1,000
 * ports gives 0.85 (then every port counts).
 */
export function chanceStuckPorts(share: number, attempts: number, ports: number): number {
  if (ports <= 0) return 0
  const lambda = (share * attempts) / ports
  let below = 0
  let term = Math.exp(-lambda)
  for (let k = 0; k < STUCK_MIN_STALLS; k++) {
    below += term
    term *= lambda / (k + 1)
  }
  return ports * Math.max(0, 1 - below)
}

export const CHANCE_STUCK_PORTS = 0.001

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
  let stalled = 0
  const latencies: number[] = []
  for (const a of all) {
    const [, ms, kind] = a
    if (kind === 'ok') ok++
    else if (kind === 'other') other++
    else failures[kind]++
    if (ms !== null) {
      latencies.push(ms)
      if (ms > SLOW_MS) slow++
    }
    if (stalledAttempt(a)) stalled++
  }
  // One pass over the ports for both the stuck ones and how many there were (chanceStuckPorts).
  const byPort = stallsByPort(perClient)
  const stuck = stuckOf(byPort)
  if (other > 0) failures.other = other
  latencies.sort((a, b) => a - b)
  const r = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10)
  return {
    attempts: all.length,
    ok,
    failures,
    slow,
    stalled,
    p50_ms: r(percentile(latencies, 50)),
    p99_ms: r(percentile(latencies, 99)),
    max_ms: r(latencies.length ? latencies[latencies.length - 1]! : null),
    stuck_ports: stuck.ports,
    stuck_stalls: stuck.stalls,
    repeated_stall_ports: repeatedStallPorts(perClient),
    ports_used: byPort.size,
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

/** z for a two-sided 95 % interval. */
export const Z95 = 1.959964

/**
 * Wilson score interval for k events in n trials (95 %). Chosen over the normal approximation
 * because it stays inside [0, 1] and is sound at k = 0 or k = n, which is where the lab's
 * benign and exhausted scenarios sit. n = 0 gives [0, 1]: nothing is known.
 */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1]
  const p = k / n
  const z2 = z * z
  const denom = 1 + z2 / n
  const centre = (p + z2 / (2 * n)) / denom
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom
  // At k = 0 (k = n) the bound is exactly 0 (1); rounding must not move it off.
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)]
}

export type Verdict = 'harmful' | 'benign' | 'inconclusive'

/** Harmful when the whole interval lies above the budget, benign when below, else undecided. */
export function verdictOf(interval: [number, number], budget: number): Verdict {
  if (interval[0] > budget) return 'harmful'
  if (interval[1] < budget) return 'benign'
  return 'inconclusive'
}

/** The model's stated tolerance: a prediction within a factor of 2 of the measured interval. */
export const AGREE_FACTOR = 2

/**
 * Below this fraction of the budget a prediction is "about zero" for the lab: resolving a share
 * of budget/10 (1e-4) needs well over 10/share = 100,000 attempts, more than any phase runs.
 * Such predictions are checked on the verdict alone (the measured interval must lie below the
 * budget), and the report says so (`agreement: "verdict"`), rather than passing as a number.
 */
export const RESOLUTION_OF_BUDGET = 0.1

export interface Agreement {
  agrees: boolean
  /** "interval": the predicted share was checked against the widened interval; "verdict": only the verdicts. */
  basis: 'interval' | 'verdict'
  predicted_verdict: Verdict
}

export function agreement(predicted: number, interval: [number, number], measured: Verdict, budget: number): Agreement {
  const predictedVerdict: Verdict = predicted > budget ? 'harmful' : 'benign'
  const verdictsMatch = measured === predictedVerdict
  if (predicted < budget * RESOLUTION_OF_BUDGET) return {agrees: verdictsMatch, basis: 'verdict', predicted_verdict: predictedVerdict}
  const within = predicted >= interval[0] / AGREE_FACTOR && predicted <= Math.min(1, interval[1] * AGREE_FACTOR)
  return {agrees: within && verdictsMatch, basis: 'interval', predicted_verdict: predictedVerdict}
}
