import {describe, expect, it} from 'vitest'

import {renderLabText} from '../../src/lab/report.js'
import {predictStallShare} from '../../src/lab/predict.js'
import {agreementOf, measure, predict, separatesStuck, type LabReport, type PhaseReport, type Prediction} from '../../src/lab/run.js'
import {modelFor} from '../../src/lab/remedy.js'
import {facts, flow} from './helpers.js'

const phase = (over: Partial<PhaseReport>): PhaseReport => ({
  attempts: 1000,
  ok: 1000,
  failures: {EADDRNOTAVAIL: 0, reset: 0, timeout: 0},
  slow: 0,
  stalled: 0,
  p50_ms: 0.2,
  p99_ms: 1.1,
  max_ms: 3,
  stuck_ports: 0,
  stuck_stalls: 0,
  repeated_stall_ports: [],
  ports_used: 1000,
  connects_before_first_EADDRNOTAVAIL: [null],
  counters: {client1: {TcpOutRsts: 0}, server: {TcpExtPAWSTimewait: 0}},
  reused_tuples: 0,
  reused_by_age_10s: [0, 0, 0, 0, 0, 0],
  seconds: 10,
  warmup_seconds: 3,
  window_seconds: 10,
  extensions: 0,
  ...over,
})

describe('lab report', () => {
  it('judges a phase by the 95 % interval of its stall share against the budget: true, false or null', () => {
    // 0 of 4000: [0, 0.096 %] lies under 0.1 %: benign.
    expect(measure(phase({attempts: 4000, ok: 4000}), 0.001)).toMatchObject({harmful: false, verdict: 'benign', stall_share: 0})
    // 2 of 1000 (0.2 %): [0.055 %, 0.73 %] straddles 0.1 %: undecided, null in the JSON.
    expect(measure(phase({slow: 2, stalled: 2}), 0.001)).toMatchObject({harmful: null, verdict: 'inconclusive', stall_share: 0.002})
    // 40 of 1000: harmful; reset and timeout shares on their own.
    const m = measure(phase({slow: 30, stalled: 40, failures: {EADDRNOTAVAIL: 0, reset: 4, timeout: 6}}), 0.001)
    expect(m).toMatchObject({harmful: true, verdict: 'harmful', stall_share: 0.04, harm_share: 0.04, reset_share: 0.004, timeout_share: 0.006, attempts: 1000})
    expect(m.interval[0]).toBeCloseTo(0.0295, 3)
    expect(m.interval[1]).toBeCloseTo(0.0541, 3)
  })

  it('says why there is no after phase: the user turned it off (--remedy none), or the rules had none the lab can apply', () => {
    const m = modelFor(flow({role: 'server', qps: 40}), facts({}), '6.18')
    const stall = predictStallShare(flow({role: 'server', qps: 40}), facts({}), '6.18')
    const before = phase({})
    const report: LabReport = {
      flow: 'f', kernel: '6.18.44', scaled: null, notes: [], before, remedy: null, after: null,
      prediction: predict(m, stall), measured: measure(before), agrees: true, agreement: 'interval',
      prediction_after: null, measured_after: null, agrees_after: null, agreement_after: null,
    }
    expect(renderLabText(report, {remedyOff: true})).toMatch(/^after : not run \(--remedy none: one phase only\)$/m)
    expect(renderLabText(report, {remedyOff: true})).not.toContain('no remedy the lab can apply')
    expect(renderLabText(report)).toMatch(/^after : no remedy the lab can apply \(the rules offer none/m)
  })

  it('prints both phases side by side, the counters that moved, and the model beside the measurement', () => {
    const m = modelFor(flow({role: 'server', senders: 2, nat: {port_range: [20000, 20099], conntrack_time_wait: 120}, qps: 40}), facts({}), '6.18')
    const stall = predictStallShare(flow({role: 'server', senders: 2, nat: {port_range: [20000, 20099], conntrack_time_wait: 120}, qps: 40}), facts({}), '6.18')
    const before = phase({slow: 40, stalled: 40, counters: {client1: {TcpOutRsts: 120}, server: {TcpExtPAWSTimewait: 250, TcpExtTCPTimeWaitOverflow: 0}}})
    const after = phase({attempts: 4000, ok: 4000, counters: {client1: {TcpOutRsts: 0}, server: {TcpExtPAWSTimewait: 0, TcpExtTCPTimeWaitOverflow: 990}}})
    const report: LabReport = {
      flow: 'behind-nat',
      kernel: '6.18.44',
      scaled: null,
      notes: [],
      before,
      remedy: {source: 'model', sysctl: {'net.ipv4.tcp_max_tw_buckets': '1'}, why: 'fewer TIME_WAIT entries'},
      after,
      prediction: predict(m, stall),
      measured: measure(before),
      agrees: true,
      agreement: 'interval',
      prediction_after: {...predict(m, stall), harmful: false, verdict: 'no pressure', stall_share: 0},
      measured_after: measure(after),
      agrees_after: true,
      agreement_after: 'verdict',
    }
    const text = renderLabText(report)
    expect(text).toMatch(/slow \(> 500 ms\)\s+40\s+0/)
    expect(text).toContain('after: net.ipv4.tcp_max_tw_buckets=1')
    expect(text).toMatch(/server TcpExtPAWSTimewait\s+250\s+0/)
    expect(text).toMatch(/server TcpExtTCPTimeWaitOverflow\s+0\s+990/)
    expect(text).not.toContain('TcpExtTWRecycled')
    expect(text).toMatch(/stalled \(failed or slow\)\s+40\s+0/)
    // The harm model: 2 senders remapped into 100 tuples at 40/s, a 6.18.0 client (offsets per host
    // pair before the 6.18.17 backport): 4 % of connects stall.
    expect(text).toMatch(/before: model: harmful: .*, 4 % stalled, .* measured: harmful \(4 % stalled, 95 % \[2\.95 %, 5\.4\d* %\] of 1000; budget 0\.1 %\) -> agrees$/m)
    expect(text).toMatch(/after : model: no pressure, 0 % stalled.*measured: no harm \(0 % stalled, 95 % \[0 %, 0\.0959 %\] of 4000.*-> agrees \(prediction below the lab's resolution: verdicts compared\)$/m)
  })

  // Issue 10's Why B (docs/kernel.md, "A stuck tuple"): 9,000 connects, one port stuck for 13 of
  // them, 2 double rejections elsewhere; the model predicts 0.0193 % and 0.1 % per stuck tuple.
  it('judges the predicted share off stuck ports where the model says a tuple can stick, and checks the stuck ones against their own cost', () => {
    const whyB = (over: Partial<Prediction>): Prediction => ({
      harmful: false, safe_qps: 206.69, verdict: 'benign', collision_share: 0.5183, connects_before_failure: null, margin: 0.48,
      stall_share: 0.000193, reset_share: 0.009762, timeout_share: 0, harm_budget: 0.001, mechanism: 'rfc1337-stuck', assumptions: [],
      stuck_tuple_share: 0.001, ...over,
    })
    const run = phase({attempts: 9000, ok: 8987, stalled: 15, slow: 2, failures: {EADDRNOTAVAIL: 0, reset: 0, timeout: 13}, stuck_ports: 1, stuck_stalls: 13, repeated_stall_ports: [[0, 40074, 13, 13]]})
    const m = measure(run, 0.001, true)
    // All ports: 15 of 9,000 = 0.167 %, 95 % [0.101 %, 0.275 %]: over the budget.
    expect(m).toMatchObject({stall_share: 0.001667, verdict: 'harmful', stuck_ports: 1, stuck_stalls: 13})
    // Off the stuck port: 2 of 8,987 = 0.0223 %, 95 % [0.0061 %, 0.0811 %]: benign.
    expect(m.outside_stuck).toMatchObject({stall_share: 0.000223, verdict: 'benign', attempts: 8987})
    expect(m.outside_stuck!.interval[1]).toBeCloseTo(0.00081, 5)
    // 0.0193 % lies in [0.0061 / 2, 0.081 x 2] %, both benign, and the stuck port cost
    // 13 / 9000 = 0.144 % <= 2 x 1 x 0.1 %.
    expect(agreementOf(whyB({}), m)).toMatchObject({agrees: true, basis: 'interval'})
    // A stuck port that cost more than twice what the model says one costs: disagrees.
    const costly = measure({...run, stalled: 32, stuck_stalls: 30, failures: {EADDRNOTAVAIL: 0, reset: 0, timeout: 30}}, 0.001, true)
    expect(30 / 9000).toBeGreaterThan(2 * 0.001)
    expect(agreementOf(whyB({}), costly).agrees).toBe(false)
    // Judged apart only where the model expects stuck tuples and chance would not pile 3 stalls on a port.
    expect(separatesStuck(whyB({}), run)).toBe(true)
    expect(separatesStuck(whyB({stuck_tuple_share: 0}), run)).toBe(false)
    expect(separatesStuck(whyB({stall_share: 0.01}), run)).toBe(false)
    // Where the model says nothing can stick, every port counts, and the same run disagrees.
    const all = measure(run, 0.001, false)
    expect(all.outside_stuck).toBeNull()
    expect(agreementOf(whyB({stuck_tuple_share: 0}), all).agrees).toBe(false)
    // The report says both figures.
    const text = renderLabText({
      flow: 'why-b', kernel: '6.18.44', scaled: null, notes: [], before: run, remedy: null, after: null,
      prediction: whyB({}), measured: m, agrees: true, agreement: 'interval',
      prediction_after: null, measured_after: null, agrees_after: null, agreement_after: null,
    })
    expect(text).toContain('before: ports with repeated stalls (stalled of connects): client1:40074 13 of 13')
    expect(text).toMatch(/on stuck ports \(>= 3 stalls each\)\s+13 on 1/)
    expect(text).toContain('off 1 stuck port: 0.0223 %, 95 % [0.0061 %, 0.0811 %] of 8987, benign; stuck: 0.144 % (model: 0.1 % each) -> agrees')
  })
})
