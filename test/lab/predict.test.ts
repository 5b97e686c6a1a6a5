import {describe, expect, it} from 'vitest'

import {exhaustedSuccesses, HARM_BUDGET, isLoopbackPeer, natRemaps, predictStallShare} from '../../src/lab/predict.js'
import {hostParams} from '../../src/model/host.js'
import {predictFlow} from '../../src/model/predict.js'
import {SCENARIOS, scenarioFacts} from '../../src/lab/scenarios.js'
import type {Flow} from '../../src/topology/types.js'
import {facts, flow} from './helpers.js'

const nat = (over: Record<string, unknown>) => flow({role: 'server', senders: 2, nat: {port_range: [20000, 20249], conntrack_time_wait: 120, ...over} as never})

describe('the lab\'s stall-share prediction (the harm model\'s predictFlow, with the lab\'s warm-up and windows)', () => {
  it('counts the connects that succeed in a window once the client holds every port in TIME_WAIT', () => {
    // 1000 ports at 200/s: all taken by 5 s, back from 60 s at the rate they were taken.
    expect(exhaustedSuccesses(1000, 200, 60, {warmupSeconds: 0, seconds: 5})).toBe(1000)
    expect(exhaustedSuccesses(1000, 200, 60, {warmupSeconds: 6, seconds: 5})).toBe(0)
    expect(exhaustedSuccesses(1000, 200, 60, {warmupSeconds: 58, seconds: 4})).toBe(400)
    // Steady state: 1000 per 60 s whatever the window's phase.
    expect(exhaustedSuccesses(1000, 200, 60, {warmupSeconds: 120, seconds: 60})).toBe(1000)
  })

  it('knows when the NAT sends from a port other than the sender\'s', () => {
    expect(natRemaps(nat({port_mode: 'fully-random', port_range: [1024, 65535]}))).toBe(true)
    expect(natRemaps(nat({port_mode: 'random', port_range: [1024, 65535]}))).toBe(true)
    // preserve: the senders' default range 32768-60999 lies outside a 20000-20249 pool.
    expect(natRemaps(nat({port_mode: 'preserve'}))).toBe(true)
    // preserve, a pool that holds the senders' ports, but two senders on one range clash.
    expect(natRemaps(nat({port_range: [1024, 65535]}))).toBe(true)
    const own = {...nat({port_range: [1024, 65535]}), sender_port_ranges: [[40000, 40999], [41000, 41999]]} as unknown as Flow
    expect(natRemaps(own)).toBe(false)
    expect(natRemaps(flow({role: 'server'}))).toBe(false)
  })

  it('takes cross-sender stalls from the harm model: timestamps on, tcp_rfc1337=1, off, and the bucket cap', () => {
    const f = {...nat({}), qps: 100}
    const v2 = (sys: Record<string, string>) => predictFlow(hostParams(facts(sys), '6.18'), f).stall_share
    for (const sys of [{}, {'net.ipv4.tcp_rfc1337': '1'}, {'net.ipv4.tcp_timestamps': '0'}, {'net.ipv4.tcp_max_tw_buckets': '2'}] as Record<string, string>[]) {
      expect(predictStallShare(f, facts(sys), '6.18').stall_share, JSON.stringify(sys)).toBe(v2(sys))
    }
    // Every SYN lands on a tuple the other sender left (250 tuples back every 2.5 s): harmful with
    // timestamps, worse with tcp_rfc1337=1 (the RST no longer clears the entry), none without
    // timestamps (the RST clears the entry, the resend is accepted).
    expect(predictStallShare(f, facts({}), '6.18').stall_share).toBeGreaterThan(HARM_BUDGET)
    expect(predictStallShare(f, facts({'net.ipv4.tcp_rfc1337': '1'}), '6.18').stall_share).toBeGreaterThan(predictStallShare(f, facts({}), '6.18').stall_share)
    expect(predictStallShare(f, facts({'net.ipv4.tcp_timestamps': '0'}), '6.18').stall_share).toBe(0)
    // The tcp_max_tw_buckets cap of 2 entries for a 250-tuple pool: below the harm budget.
    expect(predictStallShare(f, facts({'net.ipv4.tcp_max_tw_buckets': '2'}), '6.18').stall_share).toBeLessThan(HARM_BUDGET)
    expect(predictStallShare(flow({role: 'client', qps: 200, closes_first: 'server'}), facts({'net.ipv4.ip_local_port_range': '40000 40999'}), '6.18').stall_share).toBe(0)
    expect(predictStallShare(f, facts({}), '6.18').harm_budget).toBe(HARM_BUDGET)
    expect(predictStallShare({...f, harm_budget: 0.01} as Flow, facts({}), '6.18').harm_budget).toBe(0.01)
  })

  it('tcp_tw_reuse=2 reuses TIME_WAIT ports only toward a loopback peer', () => {
    const sys = {'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '2'}
    const lo = flow({role: 'client', peer: '127.0.0.1:8080', qps: 200, closes_first: 'client'})
    expect(isLoopbackPeer(lo)).toBe(true)
    expect(predictStallShare(lo, facts(sys), '6.18').stall_share).toBe(0)
    const far = flow({role: 'client', qps: 200, closes_first: 'client'})
    // Warm-up 6 s (1000 ports at 200/s, +1), window 5 s: every connect fails.
    const p = predictStallShare(far, facts(sys), '6.18', {warmupSeconds: 6, seconds: 5})
    expect(p.stall_share).toBe(1)
    expect(p.steady_after_seconds).toBe(6)
  })

  it('every scenario has a prediction and a warm-up within the lab\'s caps', () => {
    for (const s of SCENARIOS) {
      const p = predictStallShare({...s.flow, name: s.id} as Flow, scenarioFacts(s), '6.18')
      expect(p.stall_share, s.id).toBeGreaterThanOrEqual(0)
      expect(p.stall_share, s.id).toBeLessThanOrEqual(1)
      expect(p.steady_after_seconds, s.id).toBeLessThanOrEqual(75)
    }
  })
})
