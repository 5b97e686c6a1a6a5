/**
 * The fidelity matrix (src/lab/scenarios.ts) on this kernel: each scenario's predicted stall
 * share against the measured one's 95 % interval (src/lab/stats.ts `agreement`). Needs root,
 * iproute2 and nftables (CI runs as root): without root the suite is skipped with its reason
 * (test/root.ts), and CI=true turns that skip into a failure. Scenarios run three at a time (each in its own namespaces), each window sized
 * to decide and extended at most three times; the whole file takes about 4-5 minutes on 2 CPUs.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {modelFor, topRemedy} from '../../src/lab/remedy.js'
import {runLab} from '../../src/lab/run.js'
import {runFidelity, SCENARIOS, scenarioFacts, type FidelityRow} from '../../src/lab/scenarios.js'
import {preflight} from '../../src/lab/system.js'
import {rootSuite} from '../root.js'
import {buildDriver, leftovers} from './helpers.js'

let rows: FidelityRow[] = []
/** CI's matrix: every scenario but those too near the budget to decide on every run (each says why). */
const MATRIX = SCENARIOS.filter((s) => s.notInCi === undefined)

/**
 * Worst case of the whole matrix: the slowest scenario is a 60 s warm-up plus four windows;
 * the rest fit beside it three at a time. Bounded by runLab's own caps (warm-up 75 s, windows
 * 60 s, 3 extensions, connect timeouts 5 s), so 10 minutes is a hang, not a slow kernel.
 */
const MATRIX_TIMEOUT_MS = 600_000

// Skipped with its reason without root (test/root.ts); required, and failing, in CI.
rootSuite('the fidelity matrix on this kernel', 'network namespaces, nftables', () => {
beforeAll(async () => {
  preflight()
  const driver = buildDriver()
  rows = await runFidelity(MATRIX, runLab, {
    concurrency: 3,
    driver,
    onDone: (r) => {
      if (process.env.TWLAB_FIGURES) {
        const m = r.report.measured
        process.stderr.write(`${JSON.stringify({id: r.id, wall: r.wall_seconds, predicted: r.report.prediction.stall_share, measured: m.stall_share, interval: m.interval, attempts: m.attempts, extensions: r.report.before.extensions, reused: r.report.before.reused_tuples, agrees: r.report.agrees, basis: r.report.agreement})}\n`)
      }
    },
  })
}, MATRIX_TIMEOUT_MS)

afterAll(async () => {
  // Every run removes its namespaces on the way out, whatever happened.
  expect(await leftovers()).toEqual([])
})

const row = (id: string) => {
  const r = rows.find((x) => x.id === id)
  if (!r) throw new Error(`scenario ${id} did not run`)
  return r.report
}

describe('fidelity: predicted stall share against this kernel', () => {
  it('has the matrix issue 10 asks for: at least 10 scenarios, unique ids', () => {
    expect(MATRIX.length).toBeGreaterThanOrEqual(10)
    expect(new Set(SCENARIOS.map((s) => s.id)).size).toBe(SCENARIOS.length)
    // Leaving a scenario out of CI takes a stated reason, and leaves most of the matrix in.
    for (const s of SCENARIOS) if (s.notInCi !== undefined) expect(s.notInCi.length, s.id).toBeGreaterThan(20)
    expect(SCENARIOS.length - MATRIX.length).toBeLessThanOrEqual(1)
  })

  for (const s of MATRIX) {
    it(`${s.id}: ${s.title}: prediction agrees with the measured interval`, () => {
      const r = row(s.id)
      const m = r.measured
      // Where the model expects stuck tuples the verdict is judged off stuck ports (run.ts, separatesStuck).
      const judged = m.outside_stuck ?? m
      const off = m.outside_stuck ? `; off ${m.stuck_ports} stuck ports ${judged.stall_share} [${judged.interval.join(', ')}], stuck stalls ${m.stuck_stalls}` : ''
      const detail = `predicted ${r.prediction.stall_share}, measured ${m.stall_share} [${m.interval.join(', ')}] of ${m.attempts}, verdict ${m.verdict}${off}, basis ${r.agreement}`
      expect(judged.verdict, detail).not.toBe('inconclusive')
      expect(r.agrees, detail).toBe(true)
    })
  }

  it('the mechanisms show where they should (the counters the findings name)', () => {
    // Cross-sender collisions with timestamps: PAWS rejects in TIME_WAIT on the server.
    expect(row('nat-remap-ts').before.counters.server!.TcpExtPAWSTimewait).toBeGreaterThan(0)
    // Exhaustion is EADDRNOTAVAIL, and tcp_tw_reuse=1 or =2 over lo recycles TIME_WAIT ports instead.
    expect(row('client-reuse-0').before.failures.EADDRNOTAVAIL).toBeGreaterThan(0)
    expect(row('client-reuse-1').before.counters.client1!.TcpExtTWRecycled).toBeGreaterThan(0)
    expect(row('client-reuse-2-loopback').before.counters.client1!.TcpExtTWRecycled).toBeGreaterThan(0)
    // Senders behind a preserving NAT really do meet their own tuples (and it costs nothing).
    const own = row('nat-preserve-own').before
    expect(own.reused_tuples).toBeGreaterThan(own.attempts / 2)
    // Issue 10's Why A is harmless for the reason the model gives, not for want of collisions: its
    // pool comes back inside the server's TIME_WAIT.
    const a = row('why-remap-nots').before
    expect(a.reused_tuples).toBeGreaterThan(a.attempts / 2)
    // Why B: remapped SYNs are rejected on PAWS (holes), and the model expects stuck tuples at
    // 1 / (2 senders x 500 ports) each, so the lab judges them apart.
    const b = row('why-preserve-rfc1337')
    expect(b.before.counters.server!.TcpExtPAWSTimewait).toBeGreaterThan(0)
    expect(b.prediction.stuck_tuple_share).toBeCloseTo(0.001, 9)
    expect(b.measured.outside_stuck).not.toBeNull()
    // The bucket cap works by skipping TIME_WAIT.
    expect(row('tw-buckets-remedy').before.counters.server!.TcpExtTCPTimeWaitOverflow).toBeGreaterThan(0)
  })

  it('the tw-buckets scenario runs the cap the rules offer for nat-remap-ts', async () => {
    const s = SCENARIOS.find((x) => x.id === 'nat-remap-ts')!
    const capped = SCENARIOS.find((x) => x.id === 'tw-buckets-remedy')!
    const remedy = await topRemedy({...s.flow, name: s.id} as never, scenarioFacts(s), '6.18')
    const cap = remedy?.sysctl?.['net.ipv4.tcp_max_tw_buckets']
    // The rules' own order puts other remedies first; the cap is the model's last resort. The
    // model offers the LARGEST cap whose stall share stays within the budget: at that cap the
    // predicted share sits on the budget, where no window of a few thousand connects can decide.
    // So the lab runs a cap within the offered one (any smaller cap only stalls less) and checks
    // that prediction and measurement agree there.
    const modelCap = modelFor({...s.flow, name: s.id} as never, scenarioFacts(s), '6.18').twBucketsForSafeReuse
    const offered = Number(cap ?? modelCap)
    expect(offered).toBeGreaterThan(0)
    expect(Number(capped.sysctls['net.ipv4.tcp_max_tw_buckets'])).toBeLessThanOrEqual(offered)
  })
})
})
