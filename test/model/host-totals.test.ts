import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {accountHost, hostParams, HostTotals, shapesOf, type FlowShape, type HostParams} from '../../src/model/host.js'
import type {Flow} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

// HostTotals (src/model/host.ts): the host's accounting with one flow changed, or under other
// caps, patched in O(1). Its definition is accountHost over the changed flows (the docstring:
// "bit for bit what accountHost gives"): each case below is held to it, field by field, and the
// numbers that matter are also worked out by hand.

function host(sysctls: Record<string, string> = {}): HostParams {
  return hostParams({source: 't', kernel: parseKernel('6.8.0'), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_max_tw_buckets': '50000', ...sysctls}, counters: {}})
}
const bound = (name: string, qps: number, over: Partial<Flow> = {}) => makeFlow({name, role: 'client', closes_first: 'client', qps, bind_before_connect: true, ...over})
const plain = (name: string, qps: number, over: Partial<Flow> = {}) => makeFlow({name, role: 'client', closes_first: 'client', qps, ...over})

/** accountHost over `flows` with flow i replaced: the definition replaced() must give. */
function reference(h: HostParams, flows: Flow[], i: number, flow: Flow) {
  const changed = flows.map((f, j) => (j === i ? flow : f))
  return accountHost(h, shapesOf(h, changed))
}

function replaced(h: HostParams, flows: Flow[], i: number, flow: Flow) {
  const t = new HostTotals(h, shapesOf(h, flows))
  const shape: FlowShape = shapesOf(h, [flow])[0]!
  return t.replaced(i, shape)
}

/** replaced() against the reference: every field but flowEntries (the unchanged host's, by design), and flow i's entries beside it. */
function sameAsReference(h: HostParams, flows: Flow[], i: number, flow: Flow): void {
  const {acc, entries} = replaced(h, flows, i, flow)
  const {flowEntries, ...ref} = reference(h, flows, i, flow)
  const {flowEntries: _old, ...got} = acc
  expect(got).toEqual(ref)
  expect(entries).toBe(flowEntries[i])
}

describe('HostTotals.replaced: one flow changed', () => {
  it('integer entries: the totals patched by the flow\'s delta', () => {
    const h = host({'net.netfilter.nf_conntrack_max': '100000'})
    const flows = [plain('a', 100), plain('b', 200), plain('c', 300)]
    // b from 200/s to 250/s: 6,000 + 15,000 + 18,000 = 39,000 entries; conntrack holds 120 s:
    // (100 + 250 + 300) × 120 = 78,000.
    const r = replaced(h, flows, 1, plain('b', 250))
    expect(r.entries).toBe(15000)
    expect(r.acc.timeWaitTuples).toBe(39000)
    expect(r.acc.conntrackEntries).toBe(78000)
    expect(r.acc.twOverflowShare).toBe(0)
    const ref = reference(h, flows, 1, plain('b', 250))
    expect(r.acc.timeWaitTuples).toBe(ref.timeWaitTuples)
    expect(r.acc.conntrackEntries).toBe(ref.conntrackEntries)
    // Past the cap of 50,000: b at 450/s, 6,000 + 27,000 + 18,000 = 51,000: 1 − 50000/51000 skip.
    const over = replaced(h, flows, 1, plain('b', 450))
    expect(over.acc.timeWaitTuples).toBe(51000)
    expect(over.acc.twOverflowShare).toBeCloseTo(1 - 50000 / 51000, 15)
    expect(over.acc.twOverflowShare).toBe(reference(h, flows, 1, plain('b', 450)).twOverflowShare)
    // At 700/s b holds at most its tuple space, the 28,232 ports: 6,000 + 28,232 + 18,000.
    expect(replaced(h, flows, 1, plain('b', 700))).toMatchObject({entries: 28232, acc: {timeWaitTuples: 52232}})
    // Without conntrack on the host: none counted.
    expect(replaced(host(), flows, 1, plain('b', 250)).acc.conntrackEntries).toBeNull()
  })

  it('fractional entries: summed again in accountHost\'s order, the same bits', () => {
    const h = host({'net.netfilter.nf_conntrack_max': '100000'})
    const flows = [plain('a', 0.1), plain('b', 0.2), plain('c', 0.3)]
    for (const q of [0.7, 0.25, 3]) {
      const r = replaced(h, flows, 2, plain('c', q))
      const ref = reference(h, flows, 2, plain('c', q))
      expect(Object.is(r.acc.timeWaitTuples, ref.timeWaitTuples), String(q)).toBe(true)
      expect(Object.is(r.acc.conntrackEntries, ref.conntrackEntries), String(q)).toBe(true)
    }
    // 0.1·60 + 0.2·60 + 0.7·60 = 60 (up to rounding: accountHost's sum, from 0, in order).
    expect(replaced(h, flows, 2, plain('c', 0.7)).acc.timeWaitTuples).toBeCloseTo(60, 9)
    // An integer flow among fractional ones: the sum is redone too.
    const mixed = [plain('a', 0.1), plain('b', 2)]
    expect(Object.is(replaced(h, mixed, 1, plain('b', 3)).acc.timeWaitTuples, reference(h, mixed, 1, plain('b', 3)).timeWaitTuples)).toBe(true)
    // A fractional new value among integers.
    const ints = [plain('a', 1), plain('b', 2)]
    expect(Object.is(replaced(h, ints, 1, plain('b', 0.3)).acc.timeWaitTuples, reference(h, ints, 1, plain('b', 0.3)).timeWaitTuples)).toBe(true)
  })

  it('bind() before connect(): the changed flow joins, stays or leaves the bound flows, in their order', () => {
    const h = host()
    // a, b bound at 100/s each: 12,000 entries per address against 28,232 ports.
    const flows = [bound('a', 100), plain('p', 50), bound('b', 100)]
    // p becomes bound at 300/s: 6,000 + 18,000 + 6,000 = 30,000 > 28,232: exhausted.
    const join = replaced(h, flows, 1, bound('p', 300))
    expect(join.acc.bindTuplesPerAddress).toBe(30000)
    expect(join.acc.bindExhausted).toBe(true)
    sameAsReference(h, flows, 1, bound('p', 300))
    // a stops binding: only b's 6,000.
    const leave = replaced(h, flows, 0, plain('a', 100))
    expect(leave.acc.bindTuplesPerAddress).toBe(6000)
    sameAsReference(h, flows, 0, plain('a', 100))
    // b stays bound, at 500/s, from 2 addresses: the fewest addresses (a's 1) bound them all: 36,000.
    const stay = replaced(h, flows, 2, bound('b', 500, {client_addresses: 2, senders: 2}))
    expect(stay.acc.bindTuplesPerAddress).toBe(36000)
    expect(stay.acc.bindAddresses).toBe(1)
    sameAsReference(h, flows, 2, bound('b', 500, {client_addresses: 2, senders: 2}))
    // The last flow, after every bound one, becomes bound.
    const tail = [bound('a', 100), plain('q', 10)]
    sameAsReference(h, tail, 1, bound('q', 10))
    expect(replaced(h, tail, 1, bound('q', 10)).acc.bindTuplesPerAddress).toBe(6600)
    // Two addresses on every bound flow: each address holds half.
    const two = [bound('a', 100, {client_addresses: 2, senders: 2})]
    expect(replaced(h, two, 0, bound('a', 200, {client_addresses: 2, senders: 2})).acc.bindTuplesPerAddress).toBe(6000)
  })
})

describe('shapesOf: the ports a flow\'s tuples can use', () => {
  it("a client's own range is this host's, a server's the clients' declared or default one", () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    // 1,000 ports × 1 tuple space; the server's clients: 28,232 default × 2 endpoints.
    expect(shapesOf(h, [plain('a', 1)])[0]!.tupleSpaceBound).toBe(1000)
    expect(shapesOf(h, [makeFlow({role: 'server', closes_first: 'server', qps: 1, server_endpoints: 2})])[0]!.tupleSpaceBound).toBe(56464)
  })
})

describe('HostTotals.under: other caps, the same flows', () => {
  it('the accounting under a new tcp_max_tw_buckets or nf_conntrack_max; null when the flows\' shapes could move', () => {
    const flows = [plain('a', 400), bound('b', 300)]
    const base = host({'net.netfilter.nf_conntrack_max': '1000'})
    const t = new HostTotals(base, shapesOf(base, flows))
    // 24,000 + 18,000 = 42,000 entries; under a cap of 21,000 half the closes skip TIME_WAIT:
    // the bound flow keeps 18,000 × 1/2 = 9,000 per address.
    const capped = host({'net.ipv4.tcp_max_tw_buckets': '21000', 'net.netfilter.nf_conntrack_max': '5000'})
    const u = t.under(capped)!
    expect(u.twOverflowShare).toBe(0.5)
    expect(u.bindTuplesPerAddress).toBe(9000)
    expect(u.conntrackEntries).toBe(700 * 120)
    expect(u).toEqual(accountHost(capped, shapesOf(capped, flows)))
    // Another port range, reserved ports, TIME_WAIT or conntrack hold: null.
    expect(t.under(host({'net.ipv4.ip_local_port_range': '10000 60999', 'net.netfilter.nf_conntrack_max': '1000'}))).toBeNull()
    expect(t.under(host({'net.ipv4.ip_local_reserved_ports': '40000', 'net.netfilter.nf_conntrack_max': '1000'}))).toBeNull()
    expect(t.under(host({'net.ipv4.tcp_tw_timeout': '30', 'net.netfilter.nf_conntrack_max': '1000'}))).toBeNull()
    expect(t.under(host({'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '60', 'net.netfilter.nf_conntrack_max': '1000'}))).toBeNull()
    // conntrack unloaded (no nf_conntrack_max): the entries it counted no longer apply.
    expect(t.under(host())).toBeNull()
  })
})
