/**
 * The model against a real kernel: the six scenarios of issue 3, each run in network namespaces
 * and asserting that the model's verdict equals what was measured. Needs root, iproute2 and
 * nftables (CI runs as root); without them the suite fails with the reason, it never skips.
 * About 2 minutes in total.
 */
import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {modelFor} from '../../src/lab/remedy.js'
import {COLLISION_BUDGET} from '../../src/model/constants.js'
import {runLab, type LabReport} from '../../src/lab/run.js'
import {preflight} from '../../src/lab/system.js'
import {buildDriver, facts, flow, leftovers, requireRoot} from './helpers.js'

let driver = ''
const log: string[] = []

beforeAll(() => {
  requireRoot()
  preflight()
  driver = buildDriver()
})

afterEach(async () => {
  // Every run removes its namespaces on the way out, whatever happened.
  expect(await leftovers()).toEqual([])
})

/** The figures a scenario measured, kept in the test log for the closing note. */
function record(name: string, r: LabReport): void {
  const phase = (p: LabReport['before'] | null) =>
    p && {attempts: p.attempts, ok: p.ok, failures: p.failures, slow: p.slow, p50: p.p50_ms, p99: p.p99_ms, max: p.max_ms, first_EADDRNOTAVAIL: p.connects_before_first_EADDRNOTAVAIL, reused: p.reused_tuples, counters: p.counters}
  const line = JSON.stringify({scenario: name, before: phase(r.before), remedy: r.remedy, after: phase(r.after), prediction: r.prediction, measured: r.measured, prediction_after: r.prediction_after, measured_after: r.measured_after})
  log.push(line)
  if (process.env.TWLAB_FIGURES) process.stderr.write(`${line}\n`)
}

// One Linux client, 1000-port range (500 first-parity ports), 200/s: a port comes back every
// ~2.5 s, far inside the server's 60 s TIME_WAIT (naive limit 1000/60 = 17/s).
const narrow = {'net.ipv4.ip_local_port_range': '40000 40999'}

// Two senders behind one SNAT address with a 100-port pool at 40/s: a NAT tuple comes back to
// another sender after ~2.5 s, while the server holds it in TIME_WAIT for 60 s.
const natFlow = flow({
  name: 'behind-nat',
  role: 'server',
  qps: 40,
  closes_first: 'server',
  senders: 2,
  client_addresses: 1,
  nat: {port_range: [20000, 20099], conntrack_time_wait: 120},
})

describe('fidelity: the model against this kernel', () => {
  it('1. one client, server closes first, rate far above ports/60 s: collisions, no harm; model says benign', async () => {
    const f = flow({name: 'direct', qps: 200, closes_first: 'server'})
    const fx = facts(narrow)
    const m = modelFor(f, fx, '6.18')
    expect(m.benignCollisions).toBe(true)
    expect(m.harmful).toBe(false)
    const r = await runLab({flow: f, facts: fx, remedy: 'none', phaseSeconds: 12, driver})
    record('1', r)
    expect(r.before.reused_tuples).toBeGreaterThan(r.before.attempts / 2) // collisions happened
    expect(r.before.failures).toEqual({EADDRNOTAVAIL: 0, reset: 0, timeout: 0})
    expect(r.before.slow).toBe(0)
    expect(r.prediction.harmful).toBe(false)
    expect(r.measured.harmful).toBe(false)
    expect(r.agrees).toBe(true)
  }, 60_000)

  for (const reuse of ['0', '2']) {
    it(`2. client closes first, tcp_tw_reuse=${reuse}: EADDRNOTAVAIL after the predicted number of connects (±10 %)`, async () => {
      const f = flow({name: `client-closes-${reuse}`, qps: 200, closes_first: 'client'})
      const fx = facts({...narrow, 'net.ipv4.tcp_tw_reuse': reuse})
      const r = await runLab({flow: f, facts: fx, remedy: 'none', phaseSeconds: 7, driver})
      record(`2 (tw_reuse=${reuse})`, r)
      const predicted = r.prediction.connects_before_failure
      expect(predicted).not.toBeNull()
      const measured = r.measured.connects_before_failure
      expect(measured).not.toBeNull()
      expect(Math.abs(measured! - predicted!)).toBeLessThanOrEqual(0.1 * predicted!)
      expect(r.before.failures.EADDRNOTAVAIL).toBeGreaterThan(0)
      expect(r.prediction.harmful).toBe(true)
      expect(r.agrees).toBe(true)
    }, 60_000)
  }

  it('3. client closes first with tcp_tw_reuse=1: no failures; model says none', async () => {
    const f = flow({name: 'client-closes-reuse', qps: 200, closes_first: 'client'})
    const fx = facts({...narrow, 'net.ipv4.tcp_tw_reuse': '1'})
    const r = await runLab({flow: f, facts: fx, remedy: 'none', phaseSeconds: 7, driver})
    record('3', r)
    expect(r.before.failures).toEqual({EADDRNOTAVAIL: 0, reset: 0, timeout: 0})
    expect(r.before.counters.client1!.TcpExtTWRecycled).toBeGreaterThan(0)
    expect(r.prediction.harmful).toBe(false)
    expect(r.agrees).toBe(true)
  }, 60_000)

  it('4. senders behind one SNAT address, pool reused within 60 s: stalls or resets; model says harmful', async () => {
    const r = await runLab({flow: natFlow, facts: facts({}), remedy: 'none', phaseSeconds: 15, driver})
    record('4', r)
    expect(r.before.slow + r.before.failures.reset).toBeGreaterThan(0)
    expect(r.prediction.harmful).toBe(true)
    expect(r.measured.harmful).toBe(true)
    expect(r.agrees).toBe(true)
  }, 60_000)

  it("5. case 4 with the model's tcp_max_tw_buckets on the server: the harm is gone", async () => {
    const fx = facts({})
    const buckets = modelFor(natFlow, fx, '6.18').twBucketsForSafeReuse
    expect(buckets).not.toBeNull()
    const remedy = {source: 'model', sysctl: {'net.ipv4.tcp_max_tw_buckets': String(Math.max(1, buckets!))}, why: 'twBucketsForSafeReuse'}
    const r = await runLab({flow: natFlow, facts: fx, remedy, phaseSeconds: 15, driver})
    record('5', r)
    expect(r.measured.harmful).toBe(true)
    expect(r.after).not.toBeNull()
    // The remedy promises at most COLLISION_BUDGET (1 %) of new SYNs on a TIME_WAIT tuple, not
    // none: with a cap of 1 entry a SYN now and then still meets it (seen: 1 slow connect in 600).
    // So: at most that share stalled, far fewer than before, and never a reset or EADDRNOTAVAIL.
    expect(r.after!.slow + r.after!.failures.timeout).toBeLessThanOrEqual(Math.floor(COLLISION_BUDGET * r.after!.attempts))
    expect(r.after!.slow).toBeLessThan(r.before.slow / 4)
    expect(r.after!.failures).toMatchObject({EADDRNOTAVAIL: 0, reset: 0})
    expect(r.after!.counters.server!.TcpExtTCPTimeWaitOverflow).toBeGreaterThan(0)
    expect(r.prediction_after!.harmful).toBe(false)
    expect(r.measured_after!.harmful).toBe(false)
    expect(r.agrees_after).toBe(true)
  }, 90_000)

  it('6. case 4 with tcp_rfc1337=1: at least as bad as case 4; model still says harmful', async () => {
    const remedy = {source: 'test', sysctl: {'net.ipv4.tcp_rfc1337': '1'}, why: 'the remedy that was tried in the incident'}
    const r = await runLab({flow: natFlow, facts: facts({}), remedy, phaseSeconds: 15, driver})
    record('6', r)
    expect(r.after).not.toBeNull()
    expect(r.measured_after!.harm_share).toBeGreaterThanOrEqual(r.measured.harm_share)
    expect(r.measured_after!.harmful).toBe(true)
    expect(r.prediction_after!.harmful).toBe(true)
    expect(r.agrees_after).toBe(true)
  }, 90_000)
})
