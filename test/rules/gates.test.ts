// Kernel gates as data (issue 12, item 2): real dumps from a 3.10 and a 6.1 kernel, the same
// topology, and the facts that differ between them decide what is said and offered.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {Facts} from '../../src/facts/types.js'
import {hostParams} from '../../src/model/host.js'
import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {factsFromDump} from '../../src/sources/dump.js'
import type {Flow, Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name)
const dump = (name: string): Facts => factsFromDump(readFileSync(fixture(name)), fixture(name))
const CENTOS7 = 'sysctl-3.10-centos7-fragment.txt'
const DEBIAN_61 = 'sysctl-6.1.176-uml.txt'
const rules = loadRules()

const topo = (flows: Flow[]): Topology => ({file: 't.yaml', waivers: [], flows})
const withSysctls = (f: Facts, s: Record<string, string>): Facts => ({...f, sysctls: {...f.sysctls, ...s}})
const ids = (f: Facts, t: Topology) => evaluateHost(f, t, rules).findings.map((x) => x.id)

describe('the kernel facts of two real dumps', () => {
  it('3.10 has none of the 4.2+ facts, 6.1 has them', () => {
    const old = hostParams(dump(CENTOS7))
    const cur = hostParams(dump(DEBIAN_61))
    expect(old.kernel?.raw).toBe('3.10.0-1160.15.2.el7.x86_64')
    expect(cur.kernel?.raw).toBe('6.1.176')
    for (const id of ['port_parity_soft', 'ip_bind_address_no_port', 'tw_reuse_loopback', 'tw_buckets_per_netns'] as const) {
      expect(old.facts[id], id).toBe(false)
      expect(cur.facts[id], id).toBe(true)
    }
    expect(old.facts.tw_recycle).toBe(true)
    expect(cur.facts.tw_recycle).toBe(false)
    // Neither has the 6.14 reuse delay sysctl nor the 6.16 PAWSTimewait counter.
    expect(old.facts.tw_reuse_delay_sysctl || cur.facts.tw_reuse_delay_sysctl).toBe(false)
    expect(old.facts.paws_timewait_counter || cur.facts.paws_timewait_counter).toBe(false)
  })
})

describe('gates on the 3.10 and 6.1 dumps', () => {
  const sameParity = {'net.ipv4.ip_local_port_range': '32768 61000'}

  it('the port-parity warning (a 4.2 behaviour) is given on 6.1 and not on 3.10', () => {
    const t = topo([makeFlow({role: 'server', qps: 1, closes_first: 'client'})])
    expect(ids(withSysctls(dump(DEBIAN_61), sameParity), t)).toContain('port-range-parity')
    expect(ids(withSysctls(dump(CENTOS7), sameParity), t)).not.toContain('port-range-parity')
  })

  it('IP_BIND_ADDRESS_NO_PORT is advised on 6.1 only (it came in 4.2)', () => {
    const t = topo([makeFlow({role: 'client', qps: 600, closes_first: 'client'})])
    const actions = (f: Facts) =>
      evaluateHost(f, t, rules)
        .findings.filter((x) => x.id === 'client-port-exhaustion')
        .flatMap((x) => x.remedies.map((r) => r.action ?? ''))
        .join('\n')
    // 6.1 at 256 MB caps TIME_WAIT at 4,096, which frees the ports: give it a large cap.
    expect(actions(withSysctls(dump(DEBIAN_61), {'net.ipv4.tcp_tw_reuse': '0', 'net.ipv4.tcp_max_tw_buckets': '262144'}))).toMatch(/bind with IP_BIND_ADDRESS_NO_PORT/)
    const old = actions(withSysctls(dump(CENTOS7), {'net.ipv4.tcp_max_tw_buckets': '262144'}))
    expect(old).toMatch(/source addresses/)
    expect(old).not.toMatch(/bind with IP_BIND_ADDRESS_NO_PORT/)
  })

  it('a bind-before-connect flow gets IP_BIND_ADDRESS_NO_PORT as its remedy on 6.1, not on 3.10', () => {
    const t = topo([
      makeFlow({name: 'a', role: 'client', qps: 300, closes_first: 'client', bind_before_connect: true}),
      makeFlow({name: 'b', role: 'client', qps: 300, closes_first: 'client', peer: '198.18.0.20:443', bind_before_connect: true}),
    ])
    const remedies = (f: Facts) =>
      evaluateHost(f, t, rules).findings.filter((x) => x.id === 'client-bind-port-exhaustion').flatMap((x) => x.remedies.map((r) => r.action ?? ''))
    const big = {'net.ipv4.tcp_max_tw_buckets': '262144'}
    expect(remedies(withSysctls(dump(DEBIAN_61), big)).join('\n')).toMatch(/IP_BIND_ADDRESS_NO_PORT/)
    const old = remedies(withSysctls(dump(CENTOS7), big))
    expect(old.length).toBeGreaterThan(0)
    expect(old.join('\n')).not.toMatch(/IP_BIND_ADDRESS_NO_PORT/)
  })

  it('tcp_tw_reuse=1 before 6.14 is described as up to 2 s, not as 1000 ms', () => {
    const t = topo([makeFlow({role: 'client', qps: 600, closes_first: 'client'})])
    const why = (f: Facts) =>
      evaluateHost(f, t, rules)
        .findings.filter((x) => x.id === 'client-port-exhaustion')
        .flatMap((x) => x.remedies.filter((r) => r.sysctl?.['net.ipv4.tcp_tw_reuse'] === '1').map((r) => r.why))
        .join('\n')
    expect(why(withSysctls(dump(CENTOS7), {'net.ipv4.tcp_max_tw_buckets': '262144'}))).toMatch(/up to 2 s/)
    expect(why(withSysctls(dump(DEBIAN_61), {'net.ipv4.tcp_tw_reuse': '0', 'net.ipv4.tcp_max_tw_buckets': '262144', 'net.ipv4.tcp_tw_reuse_delay': '1000'}))).toMatch(/1,000 ms/)
  })
})

describe('loopback clients with tcp_tw_reuse=2 (the 6.1 default)', () => {
  const cur = () => withSysctls(dump(DEBIAN_61), {'net.ipv4.tcp_max_tw_buckets': '262144'})
  for (const peer of ['127.0.0.1:6379', '127.3.2.1:80', '[::1]:11211', '[::ffff:127.0.0.1]:8080']) {
    it(`a client flow to ${peer} at 600/s does not run out of ports`, () => {
      expect(ids(cur(), topo([makeFlow({role: 'client', qps: 600, closes_first: 'client', peer})]))).not.toContain('client-port-exhaustion')
    })
  }
  it('the same flow to a non-loopback peer does', () => {
    expect(ids(cur(), topo([makeFlow({role: 'client', qps: 600, closes_first: 'client', peer: '198.18.0.5:6379'})]))).toContain('client-port-exhaustion')
  })
  it('on 3.10, where 2 is not loopback-only, any non-zero value reuses (and 0 does not)', () => {
    const old = withSysctls(dump(CENTOS7), {'net.ipv4.tcp_max_tw_buckets': '262144'})
    const t = topo([makeFlow({role: 'client', qps: 600, closes_first: 'client', peer: '127.0.0.1:6379'})])
    expect(ids(old, t)).toContain('client-port-exhaustion')
    expect(ids(withSysctls(old, {'net.ipv4.tcp_tw_reuse': '2'}), t)).not.toContain('client-port-exhaustion')
    expect(ids(withSysctls(old, {'net.ipv4.tcp_tw_reuse': '2'}), {...t, flows: [{...t.flows[0]!, peer: '198.18.0.5:80'}]})).not.toContain('client-port-exhaustion')
  })
})

describe('wording', () => {
  it('an unknown kernel is named as such, never as "()"', () => {
    const f: Facts = {source: 'x', kernel: null, sysctls: {'net.ipv4.tcp_tw_timeout': '60'}, counters: {}}
    const r = evaluateHost(f, topo([makeFlow()]), rules)
    const knob = r.findings.find((x) => x.id === 'vendor-tw-knob')!
    expect(knob.message).not.toMatch(/\(\)/)
    expect(knob.message).toMatch(/unknown kernel/)
    expect(knob.message).toMatch(/its default/)
  })
  it('a vendor knob set away from 60 s does not claim to be at its default', () => {
    const f: Facts = {source: 'x', kernel: null, sysctls: {'net.ipv4.tcp_tw_timeout': '20'}, counters: {}}
    const knob = evaluateHost(f, topo([makeFlow()]), rules).findings.find((x) => x.id === 'vendor-tw-knob')!
    expect(knob.message).not.toMatch(/its default/)
  })
})
