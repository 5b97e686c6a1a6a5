import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {modelFlow, runModel, runModelUnder} from '../../src/model/flow.js'
import {flowShape, hostParams, HostTotals, type HostParams, type ModelledHost} from '../../src/model/host.js'
import type {Flow} from '../../src/topology/types.js'
import {sameValue} from '../../src/util/same.js'
import {makeFlow} from '../flow.js'

// runModelUnder (src/model/flow.ts, host.ts modelHostUnder) on hosts built by hand: for a
// change of tcp_max_tw_buckets's value or nf_conntrack_max only it must give runModel's model
// field by field (its docstring), without declining, and the numbers that move are worked out
// by hand. test/model/host-under.test.ts holds it to runModel on random hosts.

function host(sysctls: Record<string, string>): HostParams {
  return hostParams({source: 't', kernel: parseKernel('6.8.0'), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_reuse': '0', ...sysctls}, counters: {}})
}

function modelled(h: HostParams, flows: Flow[]): ModelledHost {
  const result = runModel(h, flows)
  return {host: h, flows, result, totals: new HostTotals(h, flows.map((f, i) => flowShape(h, f, result.flows[i]!))), firstPortExhaustion: (i) => modelFlow(h, flows[i]!).portExhaustion}
}

/** runModelUnder from `from` to `to`: not declined, and runModel's model field by field. */
function under(from: Record<string, string>, to: Record<string, string>, flows: Flow[]) {
  const got = runModelUnder(modelled(host(from), flows), host(to))
  const want = runModel(host(to), flows)
  expect(got).not.toBeNull()
  expect(got).toEqual(want)
  expect(sameValue(got, want)).toBe(true)
  return got!
}

describe('runModelUnder on hosts by hand', () => {
  it('a client that runs out of ports is kept going by a lowered cap, and named', () => {
    // a: 600/s toward one destination needs 36,000 > 28,232 ports: alone it runs out. With b
    // (400/s, 24,000 entries) the host keeps 28,232 + 24,000 = 52,232; under a cap of 30,000,
    // 1 − 30000/52232 = 42.6 % of closes skip TIME_WAIT, and a fits: twOverflowKeepsPortsFor = [a].
    const flows = [
      makeFlow({name: 'a', role: 'client', closes_first: 'client', qps: 600, peer: '198.18.0.10:80'}),
      makeFlow({name: 'b', role: 'client', closes_first: 'client', qps: 400, peer: '198.18.0.11:80'}),
    ]
    const m = under({'net.ipv4.tcp_max_tw_buckets': '262144'}, {'net.ipv4.tcp_max_tw_buckets': '30000'}, flows)
    expect(m.host.twOverflowShare).toBeCloseTo(1 - 30000 / 52232, 12)
    expect(m.host.twOverflowKeepsPortsFor).toEqual(['a'])
    expect(m.flows[0]!.portExhaustion).toBe(false)
    // And back: the cap raised again, a runs out, nobody kept.
    const back = under({'net.ipv4.tcp_max_tw_buckets': '30000'}, {'net.ipv4.tcp_max_tw_buckets': '262144'}, flows)
    expect(back.host.twOverflowKeepsPortsFor).toEqual([])
    expect(back.flows[0]!.portExhaustion).toBe(true)
    // From one overflowing cap to another: the share moves (1 − 20000/52232), a still kept.
    const more = under({'net.ipv4.tcp_max_tw_buckets': '30000'}, {'net.ipv4.tcp_max_tw_buckets': '20000'}, flows)
    expect(more.host.twOverflowShare).toBeCloseTo(1 - 20000 / 52232, 12)
    expect(more.host.twOverflowKeepsPortsFor).toEqual(['a'])
  })

  it("a server flow that closes first reads the cap's value: its remedy value and collision share move", () => {
    // 4 senders at 100/s toward this 6.8 server: 6,000 entries; a cap of 1,000 bounds its
    // collisions to 1000/14116 of SYNs, and the cap is then its collision remedy (≤ 1,229).
    const flows = [makeFlow({name: 's', role: 'server', closes_first: 'server', qps: 100, senders: 4}), makeFlow({name: 'c', role: 'client', closes_first: 'server', qps: 5})]
    const m = under({'net.ipv4.tcp_max_tw_buckets': '262144'}, {'net.ipv4.tcp_max_tw_buckets': '1000'}, flows)
    expect(m.flows[0]!.collisionShare).toBeCloseTo(1000 / 14116, 12)
    expect(m.host.twCapIsCollisionRemedy).toBe(true)
    // The entries over the cap: 6,000 − 1,000; the server keeps 1,000, the client none here.
    expect(m.host.twOverflowTuples).toBe(5000)
    expect(m.flows[0]!.timeWaitEntries).toBeCloseTo(1000, 9)
    expect(m.flows[1]!.timeWaitEntries).toBe(0)
    expect(m.flows[1]!.twOverflowShare).toBe(0)
  })

  it('bind() before connect() flows: the share of closes that skip TIME_WAIT frees their bind space', () => {
    // a, b bound at 300/s: 36,000 per address > 28,232. Under a cap of 18,000 half the closes
    // skip: 18,000 per address, not exhausted.
    const flows = [
      makeFlow({name: 'a', role: 'client', closes_first: 'client', qps: 300, bind_before_connect: true, peer: '198.18.0.10:80'}),
      makeFlow({name: 'b', role: 'client', closes_first: 'client', qps: 300, bind_before_connect: true, peer: '198.18.0.11:80'}),
    ]
    const m = under({'net.ipv4.tcp_max_tw_buckets': '262144'}, {'net.ipv4.tcp_max_tw_buckets': '18000'}, flows)
    expect(m.flows[0]!.bindTuplesPerAddress).toBe(18000)
    expect(m.flows[0]!.bindExhaustion).toBe(false)
    const exhausted = under({'net.ipv4.tcp_max_tw_buckets': '18000'}, {'net.ipv4.tcp_max_tw_buckets': '262144'}, flows)
    expect(exhausted.flows[0]!.bindExhaustion).toBe(true)
    // 28,232 − 18,000 (b's) = 10,232 for a: 10232 / 60 / 1.1.
    expect(exhausted.flows[0]!.bindTargetQps).toBeCloseTo(10232 / 60 / 1.1, 9)
  })

  it('nf_conntrack_max alone: the table fills, or no longer does', () => {
    // 1,000/s held 120 s: 120,000 entries.
    const flows = [makeFlow({name: 's', role: 'server', closes_first: 'server', qps: 1000})]
    const full = under({'net.netfilter.nf_conntrack_max': '262144'}, {'net.netfilter.nf_conntrack_max': '65536'}, flows)
    expect(full.host).toMatchObject({conntrackEntries: 120000, conntrackFull: true, conntrackMaxNeeded: 132000})
    const room = under({'net.netfilter.nf_conntrack_max': '65536'}, {'net.netfilter.nf_conntrack_max': '262144'}, flows)
    expect(room.host).toMatchObject({conntrackFull: false, conntrackMaxNeeded: null})
  })

  it('flows the cap does not reach keep their models: the same objects', () => {
    // A client whose peer closes keeps no TIME_WAIT here and reads neither the cap nor the share.
    const flows = [makeFlow({name: 'c', role: 'client', closes_first: 'server', qps: 50}), makeFlow({name: 's', role: 'server', closes_first: 'server', qps: 400, client_addresses: 20, senders: 20})]
    const base = modelled(host({'net.ipv4.tcp_max_tw_buckets': '262144'}), flows)
    const got = runModelUnder(base, host({'net.ipv4.tcp_max_tw_buckets': '10000'}))!
    expect(got.flows[0]).toBe(base.result.flows[0])
    expect(got.flows[1]).not.toBe(base.result.flows[1])
    // 24,000 entries over 10,000: 1 − 10000/24000 of the server's closes skip TIME_WAIT.
    expect(got.flows[1]!.twOverflowShare).toBeCloseTo(1 - 10000 / 24000, 12)
    expect(got).toEqual(runModel(host({'net.ipv4.tcp_max_tw_buckets': '10000'}), flows))
  })
})
