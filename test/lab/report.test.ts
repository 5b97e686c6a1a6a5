import {describe, expect, it} from 'vitest'

import {renderLabText} from '../../src/lab/report.js'
import {measure, predict, type LabReport, type PhaseReport} from '../../src/lab/run.js'
import {modelFor} from '../../src/lab/remedy.js'
import {facts, flow} from './helpers.js'

const phase = (over: Partial<PhaseReport>): PhaseReport => ({
  attempts: 1000,
  ok: 1000,
  failures: {EADDRNOTAVAIL: 0, reset: 0, timeout: 0},
  slow: 0,
  p50_ms: 0.2,
  p99_ms: 1.1,
  max_ms: 3,
  connects_before_first_EADDRNOTAVAIL: [null],
  counters: {client1: {TcpOutRsts: 0}, server: {TcpExtPAWSTimewait: 0}},
  reused_tuples: 0,
  reused_by_age_10s: [0, 0, 0, 0, 0, 0],
  seconds: 10,
  ...over,
})

describe('lab report', () => {
  it('counts a phase as harmful only above 0.2 % failed or stalled connects', () => {
    expect(measure(phase({slow: 2})).harmful).toBe(false)
    expect(measure(phase({slow: 2, failures: {EADDRNOTAVAIL: 0, reset: 0, timeout: 1}})).harmful).toBe(true)
  })

  it('prints both phases side by side, the counters that moved, and the model beside the measurement', () => {
    const m = modelFor(flow({role: 'server', senders: 2, nat: {port_range: [20000, 20099], conntrack_time_wait: 120}, qps: 40}), facts({}), '6.18')
    const before = phase({slow: 40, counters: {client1: {TcpOutRsts: 120}, server: {TcpExtPAWSTimewait: 250, TcpExtTCPTimeWaitOverflow: 0}}})
    const after = phase({counters: {client1: {TcpOutRsts: 0}, server: {TcpExtPAWSTimewait: 0, TcpExtTCPTimeWaitOverflow: 990}}})
    const report: LabReport = {
      flow: 'behind-nat',
      kernel: '6.18.44',
      scaled: null,
      notes: [],
      before,
      remedy: {source: 'model', sysctl: {'net.ipv4.tcp_max_tw_buckets': '1'}, why: 'fewer TIME_WAIT entries'},
      after,
      prediction: predict(m),
      measured: measure(before),
      agrees: true,
      prediction_after: {...predict(m), harmful: false, verdict: 'no pressure'},
      measured_after: measure(after),
      agrees_after: true,
    }
    const text = renderLabText(report)
    expect(text).toMatch(/slow \(> 500 ms\)\s+40\s+0/)
    expect(text).toContain('after: net.ipv4.tcp_max_tw_buckets=1')
    expect(text).toMatch(/server TcpExtPAWSTimewait\s+250\s+0/)
    expect(text).toMatch(/server TcpExtTCPTimeWaitOverflow\s+0\s+990/)
    expect(text).not.toContain('TcpExtTWRecycled')
    expect(text).toMatch(/before: model: harmful .* measured: harmful \(4 % .*-> agrees/)
    expect(text).toMatch(/after : model: no pressure.*-> agrees/)
  })
})
