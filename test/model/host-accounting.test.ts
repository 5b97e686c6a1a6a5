// Host-level accounting (issue 12, item 3): TIME_WAIT summed over a host's flows against the
// namespace's cap, each flow bounded by its tuple space, the overflow split among the flows.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hostParams, twBucketsDefault} from '../../src/model/host.js'
import {runModel} from '../../src/model/index.js'
import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {factsFromDump} from '../../src/sources/dump.js'
import type {Facts} from '../../src/facts/types.js'
import {makeFlow} from '../flow.js'

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name)
const dumpSysctls = (name: string) => factsFromDump(readFileSync(fixture(name)), name).sysctls
const facts = (sysctls: Record<string, string>, kernel = '6.8.0'): Facts => ({
  source: 't',
  kernel: parseKernel(kernel),
  sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_timestamps': '1', ...sysctls},
  counters: {},
})
const rules = loadRules()

describe('tcp_max_tw_buckets when the key is absent: the kernel default, estimated and said so', () => {
  it('matches the real dumps that do carry the key', () => {
    for (const [name, expected] of [
      ['sysctl-6.18.44.txt', 131072],
      ['sysctl-6.1.176-uml.txt', 4096],
    ] as const) {
      const s = dumpSysctls(name)
      expect(Number(s['net.ipv4.tcp_max_tw_buckets'])).toBe(expected)
      const {['net.ipv4.tcp_max_tw_buckets']: _drop, ...without} = s
      const est = twBucketsDefault(without, parseKernel(s['kernel.osrelease']!))
      expect(est.value, name).toBe(expected)
      expect(est.source).not.toBe('sysctl')
    }
  })
  it('from tcp_mem alone, within a factor of two on the real 3.10 and 6.18 dumps', () => {
    // 3.10 (8 GB): the key is tuned to 5000 there, but tcp_max_orphans shows the default, 32,768.
    const c7 = dumpSysctls('sysctl-3.10-centos7-fragment.txt')
    expect(twBucketsDefault({'net.ipv4.tcp_mem': c7['net.ipv4.tcp_mem']!}, parseKernel('3.10.0')).value).toBe(32768)
    const s618 = dumpSysctls('sysctl-6.18.44.txt')
    expect(twBucketsDefault({'net.ipv4.tcp_mem': s618['net.ipv4.tcp_mem']!}, parseKernel('6.18.44')).value).toBe(131072)
  })
  it('is never "no cap": with nothing to go on it is the largest default, marked assumed', () => {
    const p = hostParams(facts({}))
    expect(p.maxTwBuckets).toBe(262144)
    expect(p.maxTwBucketsSource).toBe('assumed')
  })
  it('the overflow finding says the cap was estimated', () => {
    const f = facts({'net.ipv4.tcp_max_orphans': '8192'})
    const r = evaluateHost(f, {file: 't', waivers: [], flows: [makeFlow({role: 'server', qps: 300, closes_first: 'server', client_addresses: 50, senders: 50})]}, rules)
    const over = r.findings.find((x) => x.id === 'tw-buckets-overflow')
    expect(over?.message).toMatch(/estimated from tcp_max_orphans/)
  })
})

describe('TIME_WAIT entries per flow and per host', () => {
  it('a flow toward one destination holds at most its tuple space, not qps × 60', () => {
    const m = runModel(hostParams(facts({'net.ipv4.tcp_max_tw_buckets': '1000000'})), [makeFlow({role: 'client', qps: 16286, closes_first: 'client'})])
    expect(m.flows[0]!.timeWaitTuples).toBe(977160)
    expect(m.host.timeWaitTuples).toBe(28232)
  })
  it('flows that each fit under the cap overflow it together, and the overflow is one share for all', () => {
    const flows = [
      makeFlow({name: 'a', role: 'client', qps: 400, closes_first: 'client', peer: '198.18.0.10:80'}),
      makeFlow({name: 'b', role: 'server', qps: 400, closes_first: 'server', peer: '198.18.0.1:443', client_addresses: 20, senders: 20}),
    ]
    const m = runModel(hostParams(facts({'net.ipv4.tcp_max_tw_buckets': '40000'})), flows)
    expect(m.host.timeWaitTuples).toBe(48000)
    expect(m.host.twOverflow).toBe(true)
    expect(m.host.twOverflowShare).toBeCloseTo(1 - 40000 / 48000, 9)
    for (const f of m.flows) expect(f.twOverflowShare).toBeCloseTo(m.host.twOverflowShare, 9)
    expect(m.flows.reduce((s, f) => s + f.timeWaitEntries, 0)).toBeCloseTo(40000, 6)
  })
  it('a host does not get "overflows the cap" and "runs out of ports" for the same entries', () => {
    // 600/s toward one destination alone needs 36,000 > 28,232 ports; with the other flow the
    // host overflows its 30,000 cap, and the closes that skip TIME_WAIT free the ports.
    const flows = [
      makeFlow({name: 'a', role: 'client', qps: 600, closes_first: 'client', peer: '198.18.0.10:80'}),
      makeFlow({name: 'b', role: 'client', qps: 400, closes_first: 'client', peer: '198.18.0.11:80'}),
    ]
    const r = evaluateHost(facts({'net.ipv4.tcp_max_tw_buckets': '30000'}), {file: 't', waivers: [], flows}, rules)
    const found = r.findings.map((x) => `${x.id}:${x.flow ?? ''}`)
    expect(found).toContain('tw-buckets-overflow:')
    expect(found).not.toContain('client-port-exhaustion:a')
    // ... and the overflow finding says it is what keeps flow a going.
    expect(r.model?.host.twOverflowKeepsPortsFor).toEqual(['a'])
    expect(r.findings.find((x) => x.id === 'tw-buckets-overflow')!.message).toMatch(/keeps 1 client flow\(s\) from running out of source ports \(a\)/)
    // Alone, with a cap it does not reach, the same flow does run out.
    const alone = evaluateHost(facts({'net.ipv4.tcp_max_tw_buckets': '262144'}), {file: 't', waivers: [], flows: [flows[0]!]}, rules)
    expect(alone.findings.map((x) => x.id)).toContain('client-port-exhaustion')
  })
})

describe('bind() before connect()', () => {
  it('shares one port space per source address across destinations', () => {
    const flows = [
      makeFlow({name: 'a', role: 'client', qps: 300, closes_first: 'client', peer: '198.18.0.10:80', bind_before_connect: true}),
      makeFlow({name: 'b', role: 'client', qps: 300, closes_first: 'client', peer: '198.18.0.11:80', bind_before_connect: true}),
    ]
    const p = hostParams(facts({'net.ipv4.tcp_max_tw_buckets': '262144'}))
    const m = runModel(p, flows)
    expect(m.flows[0]!.bindTuplesPerAddress).toBe(36000)
    expect(m.flows[0]!.bindExhaustion).toBe(true)
    // Each flow alone (connect() picking per destination) would be fine.
    expect(m.flows.every((f) => !f.portExhaustion)).toBe(true)
    // With two source addresses each holds half.
    const two = runModel(p, flows.map((f) => ({...f, client_addresses: 2, senders: 2})))
    expect(two.flows[0]!.bindExhaustion).toBe(false)
  })
})

describe('conntrack table capacity', () => {
  it('entries kept 120 s after close against nf_conntrack_max, only where conntrack is loaded', () => {
    const flows = [makeFlow({role: 'server', qps: 1000, closes_first: 'server'})]
    const m = runModel(hostParams(facts({'net.netfilter.nf_conntrack_max': '65536'})), flows)
    expect(m.host.conntrackEntries).toBe(120000)
    expect(m.host.conntrackFull).toBe(true)
    expect(m.host.conntrackMaxNeeded).toBe(132000)
    expect(runModel(hostParams(facts({})), flows).host.conntrackEntries).toBeNull()
  })
})
