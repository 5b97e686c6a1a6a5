// Pure: the prediction names each kernel's mechanism for the same flow, not one answer that
// happens to fit both (issue 15). One sender behind a fully-random SNAT into a 1000-port pool,
// 120 connects/s, server closing first, conntrack holding TIME_WAIT 120 s:
// - 6.1: the NAT cannot evict a closing entry (eviction came in 6.5), the pool (1000 / 120 s
//   = 8.3/s) runs out and SYNs are dropped: "nat-drop";
// - 6.18: the NAT evicts, the tuple comes back after 1000 / 120 = 8.3 s while the server holds
//   it in TIME_WAIT for 60 s, from a different 4-tuple (another timestamp offset): "paws-reject".
// Written against labPrediction (src/lab/kernel-sides.ts), the switch point to predictFlow.
import {describe, expect, it} from 'vitest'

import {labPrediction, measuredMechanism, onKernel, pawsCounterFor, sameMechanism} from '../../src/lab/kernel-sides.js'
import type {Flow} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const facts = {source: 'test', kernel: null, sysctls: {'net.ipv4.tcp_timestamps': '1'}, counters: {}}
const OLD = '6.1.176'
const NEW = '6.18.44'

function oneSender(role: Flow['role']): Flow {
  // port_mode is issue 10's field; today's model ignores it, the v2 model reads it.
  const nat = {port_range: [40000, 40999], conntrack_time_wait: 120, port_mode: 'fully-random'} as unknown as NonNullable<Flow['nat']>
  return makeFlow({name: 'one-sender-fully-random', role, qps: 120, closes_first: 'server', senders: 1, client_addresses: 1, nat})
}

describe('mechanism per kernel', () => {
  it('NAT host: 6.1 exhausts its pool (SYNs dropped), 6.18 evicts and the server rejects by PAWS', () => {
    const old = labPrediction(oneSender('nat'), facts, OLD)
    const cur = labPrediction(oneSender('nat'), facts, NEW)
    expect(old.mechanism).toBe('nat-drop')
    expect(cur.mechanism).toBe('paws-reject')
    // Both harmful, for different reasons: the verdict alone would not tell them apart.
    expect(old.harmful && cur.harmful).toBe(true)
  })

  it('the guest kernel is told to every side: NAT and clients carry it', () => {
    const {flow} = onKernel(oneSender('server'), facts, OLD)
    expect((flow.nat as unknown as {kernel: string}).kernel).toBe(OLD)
    expect((flow as unknown as {client_kernel: string}).client_kernel).toBe(OLD)
  })

  // The harm model reads nat.kernel: a server behind a 6.1 NAT sees its SYNs dropped, behind a
  // 6.18 NAT the evicted tuples' SYNs rejected by PAWS.
  it('server behind a 6.1 NAT: nat-drop; behind a 6.18 NAT: paws-reject', () => {
    expect(labPrediction(oneSender('server'), facts, OLD).mechanism).toBe('nat-drop')
    expect(labPrediction(oneSender('server'), facts, NEW).mechanism).toBe('paws-reject')
  })

  it('client exhaustion does not depend on these kernels: EADDRNOTAVAIL after the range, none with tcp_tw_reuse=1', () => {
    const f = makeFlow({name: 'c', role: 'client', qps: 100, closes_first: 'client'})
    for (const k of [OLD, NEW]) {
      const s = (reuse: string) => ({...facts, sysctls: {...facts.sysctls, 'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': reuse}})
      expect(labPrediction(f, s('0'), k).mechanism).toBe('client-exhaustion')
      expect(labPrediction(f, s('0'), k).model.connectsBeforeFailure).toBe(1000)
      expect(labPrediction(f, s('1'), k).mechanism).toBe('none')
    }
  })

  it('the PAWS counter is named by version: PAWSEstab before 6.16, PAWSTimewait from it', () => {
    expect(pawsCounterFor(OLD)).toBe('TcpExtPAWSEstab')
    expect(pawsCounterFor('6.15.11')).toBe('TcpExtPAWSEstab')
    expect(pawsCounterFor('6.16.0')).toBe('TcpExtPAWSTimewait')
    expect(pawsCounterFor(NEW)).toBe('TcpExtPAWSTimewait')
  })

  it('measured phases classify as the two kernels showed them (issue 15 figures)', () => {
    const base = {attempts: 1200, reused_tuples: 0}
    const none = {EADDRNOTAVAIL: 0, reset: 0, timeout: 0}
    const retrans = {client1: {TcpExtTCPSynRetrans: 120}}
    // 6.1: 19 timeouts + 20 slow, no PAWS at all.
    expect(measuredMechanism({...base, slow: 20, failures: {...none, timeout: 19}, counters: {...retrans, server: {TcpExtPAWSEstab: 0}}}, OLD, 0.002)).toBe('nat-drop')
    // 6.18: 19 slow, 99 PAWSTimewait on the server.
    expect(measuredMechanism({...base, slow: 19, failures: none, counters: {...retrans, server: {TcpExtPAWSTimewait: 99}}}, NEW, 0.002)).toBe('paws-reject')
    // The same counts under the wrong kernel's name prove nothing.
    expect(measuredMechanism({...base, slow: 19, failures: none, counters: {...retrans, server: {TcpExtPAWSTimewait: 99}}}, OLD, 0.002)).toBe('tw-collision')
    // Slow connects with no SYN retransmitted anywhere are scheduling, not TCP (a starved guest:
    // 9 over 500 ms in 1291, p50 54 ms, at load average 18); with retransmits they are stalls.
    const starved = {attempts: 1291, reused_tuples: 808, slow: 9, failures: none}
    expect(measuredMechanism({...starved, counters: {client1: {TcpExtTCPSynRetrans: 0, TcpExtTWRecycled: 808}}}, OLD, 0.002)).toBe('benign')
    expect(measuredMechanism({...starved, counters: {client1: {TcpExtTCPSynRetrans: 9}}}, OLD, 0.002)).toBe('tw-collision')
    expect(measuredMechanism({...base, slow: 0, failures: {...none, EADDRNOTAVAIL: 400}, counters: {}}, OLD, 0.002)).toBe('client-exhaustion')
    expect(measuredMechanism({...base, slow: 1, failures: none, counters: {}, reused_tuples: 900}, OLD, 0.002)).toBe('benign')
    // Measured in the 6.1 guest: rejects that also time out (4 timeouts, 10 slow, 51 PAWSEstab)
    // are PAWS; the pool running out under a few rejects (12244 timeouts, 57 PAWSEstab) is not.
    expect(measuredMechanism({attempts: 400, reused_tuples: 156, slow: 10, failures: {...none, timeout: 4}, counters: {client1: {TcpExtTCPSynRetrans: 47}, server: {TcpExtPAWSEstab: 51}}}, OLD, 0.002)).toBe('paws-reject')
    expect(measuredMechanism({attempts: 22000, reused_tuples: 0, slow: 676, failures: {...none, timeout: 12244}, counters: {client1: {TcpExtTCPSynRetrans: 2456}, server: {TcpExtPAWSEstab: 57}}}, OLD, 0.002)).toBe('nat-drop')
  })

  it('benign and none are one harmless outcome; a harmful mechanism matches only itself', () => {
    expect(sameMechanism('none', 'benign')).toBe(true)
    expect(sameMechanism('nat-drop', 'nat-drop')).toBe(true)
    expect(sameMechanism('nat-drop', 'paws-reject')).toBe(false)
    expect(sameMechanism('none', 'client-exhaustion')).toBe(false)
  })
})
