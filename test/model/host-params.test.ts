import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {modelFlow, runModel} from '../../src/model/flow.js'
import {hostParams, isLoopbackPeer, twBucketsDefault, twReuseApplies} from '../../src/model/host.js'
import {makeFlow} from '../flow.js'

// src/model/host.ts: the host settings the earlier host tests leave out, and the host-level
// numbers a flow's model gets from its host (modelHost), each worked out by hand.

const params = (sysctls: Record<string, string>, kernel: string | null = '6.8.0') =>
  hostParams({source: 't', kernel: kernel === null ? null : parseKernel(kernel), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', ...sysctls}, counters: {}})

describe('hostParams: where the tcp_tw_reuse delay and conntrack come from', () => {
  it('the delay: the sysctl when set, its 1,000 ms default from 6.14, whole seconds (2,000 ms) before', () => {
    expect(params({'net.ipv4.tcp_tw_reuse_delay': '250'}, '6.14.0')).toMatchObject({twReuseDelayMs: 250, twReuseDelaySource: 'sysctl'})
    expect(params({}, '6.14.0')).toMatchObject({twReuseDelayMs: 1000, twReuseDelaySource: 'default'})
    expect(params({}, '6.13.0')).toMatchObject({twReuseDelayMs: 2000, twReuseDelaySource: 'whole-seconds'})
  })

  it('nf_conntrack_max under either name; none when conntrack is not loaded', () => {
    expect(params({'net.netfilter.nf_conntrack_max': '65536'}).conntrackMax).toBe(65536)
    expect(params({'net.nf_conntrack_max': '1000'}).conntrackMax).toBe(1000)
    // Both: the netfilter one (the two are the same table).
    expect(params({'net.netfilter.nf_conntrack_max': '65536', 'net.nf_conntrack_max': '1000'}).conntrackMax).toBe(65536)
    expect(params({}).conntrackMax).toBeNull()
  })
})

describe('twBucketsDefault: the kernel default when tcp_max_tw_buckets is absent', () => {
  it('half of tcp_ehash_entries (negative in a namespace sharing the global hash), at most 262,144', () => {
    expect(twBucketsDefault({'net.ipv4.tcp_ehash_entries': '65536'})).toEqual({value: 32768, source: 'tcp_ehash_entries'})
    expect(twBucketsDefault({'net.ipv4.tcp_ehash_entries': '-65536'})).toEqual({value: 32768, source: 'tcp_ehash_entries'})
    expect(twBucketsDefault({'net.ipv4.tcp_ehash_entries': '4194304'})).toEqual({value: 262144, source: 'tcp_ehash_entries'})
    // 0 says nothing: the next source (tcp_max_orphans).
    expect(twBucketsDefault({'net.ipv4.tcp_ehash_entries': '0', 'net.ipv4.tcp_max_orphans': '8192'})).toEqual({value: 8192, source: 'tcp_max_orphans'})
  })

  it('tcp_max_orphans (the same cnt / 2), at most 262,144; 0 or less says nothing', () => {
    expect(twBucketsDefault({'net.ipv4.tcp_max_orphans': '1048576'})).toEqual({value: 262144, source: 'tcp_max_orphans'})
    expect(twBucketsDefault({'net.ipv4.tcp_max_orphans': '0'})).toEqual({value: 262144, source: 'assumed'})
    expect(twBucketsDefault({'net.ipv4.tcp_max_orphans': '-1'}).source).toBe('assumed')
    // The sysctl itself first.
    expect(twBucketsDefault({'net.ipv4.tcp_max_tw_buckets': '5000', 'net.ipv4.tcp_max_orphans': '8192'})).toEqual({value: 5000, source: 'sysctl'})
  })

  it('tcp_mem: RAM pages / 16 (/ 8 before 4.0) in its middle value, one hash slot per 128 KiB rounded up to a power of two', () => {
    // 6.x: 98,304 × 16 pages × 4 KiB = 6 GiB = 49,152 slots of 128 KiB -> 65,536 slots, cap 32,768.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 98304 3'}, parseKernel('6.1.0'))).toEqual({value: 32768, source: 'tcp_mem'})
    // Unknown kernel: current (/ 16).
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 98304 3'}, null).value).toBe(32768)
    // 3.10: × 8 pages: 3 GiB = 24,576 slots -> 32,768, cap 16,384.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 98304 3'}, parseKernel('3.10.0')).value).toBe(16384)
    // 4.0 already / 16.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 98304 3'}, parseKernel('4.0.0')).value).toBe(32768)
    // Exactly 4 GiB (65,536 pages × 16 × 4 KiB): 32,768 slots, a power of two already: cap 16,384.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 65536 3'}, parseKernel('6.1.0')).value).toBe(16384)
    // 64 TiB of pages: 512 Ki slots at most, cap 262,144.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 1073741824 3'}, parseKernel('6.1.0')).value).toBe(262144)
    // A tiny RAM: one slot at least (2^0), cap 1/2.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': '1 1 3'}, parseKernel('6.1.0')).value).toBe(0.5)
    // Blanks around it, as a dump may carry them: the same three numbers.
    expect(twBucketsDefault({'net.ipv4.tcp_mem': ' 1 98304 3\n'}, parseKernel('6.1.0')).value).toBe(32768)
    // Not three positive numbers: nothing to go on.
    for (const bad of ['1 98304', '1 98304 3 4', '1 0 3', '1 x 3', '-1 98304 3', '1 98304 0']) {
      expect(twBucketsDefault({'net.ipv4.tcp_mem': bad}, parseKernel('6.1.0')), bad).toEqual({value: 262144, source: 'assumed'})
    }
  })
})

describe('tcp_tw_reuse toward which peers', () => {
  it('loopback: 127.0.0.0/8, localhost, ::1 in any spelling, v4-mapped 127.x; nothing else, nor a peer that does not parse', () => {
    for (const p of ['127.0.0.1:80', '127.255.0.9:80', 'localhost:80', 'LocalHost:80', '[::1]:80', '[0:0:0:0:0:0:0:1]:80', '[0000:0000:0000:0000:0000:0000:0000:0001]:80', '[::ffff:127.0.0.1]:80']) {
      expect(isLoopbackPeer(p), p).toBe(true)
    }
    for (const p of ['128.0.0.1:80', '10.127.0.1:80', '[::2]:80', '[::ffff:10.0.0.1]:80', '[1:0:0:0:0:0:0:1]:80', 'db.internal:80', '127.0.0.1', '127.0.0.1:0']) {
      expect(isLoopbackPeer(p), p).toBe(false)
    }
  })

  it('2 is loopback-only from 4.19; before it any non-zero value reuses; 0 and absent never', () => {
    const client = (peer: string) => makeFlow({role: 'client', closes_first: 'client', peer})
    expect(twReuseApplies(params({'net.ipv4.tcp_tw_reuse': '2'}, '4.19.0'), client('198.18.0.2:80'))).toBe(false)
    expect(twReuseApplies(params({'net.ipv4.tcp_tw_reuse': '2'}, '4.19.0'), client('127.0.0.1:80'))).toBe(true)
    expect(twReuseApplies(params({'net.ipv4.tcp_tw_reuse': '2'}, '4.18.0'), client('198.18.0.2:80'))).toBe(true)
    expect(twReuseApplies(params({'net.ipv4.tcp_tw_reuse': '1'}, '6.8.0'), client('198.18.0.2:80'))).toBe(true)
    expect(twReuseApplies(params({'net.ipv4.tcp_tw_reuse': '0'}, '6.8.0'), client('127.0.0.1:80'))).toBe(false)
    expect(twReuseApplies(params({}, '6.8.0'), client('127.0.0.1:80'))).toBe(false)
  })
})

describe('modelHost: what the host adds to each flow', () => {
  it('the host model: overflow tuples, the estimated cap, the kernel code', () => {
    // Server closing at 400/s from 20 addresses: 24,000 entries (the tuple space is far larger)
    // against a cap of 20,000: 4,000 over; 1 − 20000/24000 = 1/6 of closes skip TIME_WAIT.
    const flows = [makeFlow({role: 'server', closes_first: 'server', qps: 400, client_addresses: 20, senders: 20})]
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '20000'}, '6.8.12'), flows)
    expect(r.host.timeWaitTuples).toBe(24000)
    expect(r.host.twOverflowTuples).toBe(4000)
    expect(r.host.twOverflowShare).toBeCloseTo(1 / 6, 12)
    expect(r.host.maxTwBucketsEstimated).toBe(false)
    expect(r.host.maxTwBucketsSource).toBe('sysctl')
    expect(r.host.kernelCode).toBe(6_008_012)
    expect(r.host.timeWaitSeconds).toBe(60)
    // The flow keeps 24,000 × 5/6 = 20,000 entries.
    expect(r.flows[0]!.timeWaitEntries).toBeCloseTo(20000, 6)
    expect(r.flows[0]!.twOverflowShare).toBeCloseTo(1 / 6, 12)
    // Under the cap: nothing over; the cap estimated (no key): said so.
    const est = runModel(params({'net.ipv4.tcp_max_orphans': '65536'}), flows)
    expect(est.host.twOverflowTuples).toBe(0)
    expect(est.host.twOverflow).toBe(false)
    expect(est.host.maxTwBucketsEstimated).toBe(true)
    expect(est.host.maxTwBucketsSource).toBe('tcp_max_orphans')
  })

  it('a flow whose TIME_WAIT is on the peer gets no overflow share and no entries', () => {
    const flows = [
      makeFlow({name: 's', role: 'server', closes_first: 'server', qps: 400, client_addresses: 20, senders: 20}),
      makeFlow({name: 'c', role: 'client', closes_first: 'server', qps: 400}),
    ]
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '20000'}), flows)
    expect(r.flows[1]!.timeWaitEntries).toBe(0)
    expect(r.flows[1]!.twOverflowShare).toBe(0)
  })

  it('bind() before connect() over the ports: the rate of this flow that fits with 10 % headroom', () => {
    // Two bound clients at 300/s each, 60 s: 36,000 entries per address against 28,232 ports.
    // Flow a may keep 28,232 − 18,000 (b's) = 10,232 entries: 10232 / 60 = 170.5/s, / 1.1 = 155.0/s.
    const flows = [
      makeFlow({name: 'a', role: 'client', qps: 300, closes_first: 'client', peer: '198.18.0.10:80', bind_before_connect: true}),
      makeFlow({name: 'b', role: 'client', qps: 300, closes_first: 'client', peer: '198.18.0.11:80', bind_before_connect: true}),
    ]
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), flows)
    expect(r.flows[0]!.bindUsablePorts).toBe(28232)
    expect(r.flows[0]!.bindTuplesPerAddress).toBe(36000)
    expect(r.flows[0]!.bindTargetQps).toBeCloseTo(10232 / 60 / 1.1, 9)
    // A bound socket's port was picked by bind(): connect()'s limit does not apply.
    expect(r.flows[0]!.portExhaustion).toBe(false)
    // A third flow, not bound, gets none of the bind numbers.
    const three = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), [...flows, makeFlow({name: 'c', role: 'client', qps: 1, closes_first: 'client'})])
    expect(three.flows[2]!.bindBeforeConnect).toBe(false)
    // c keeps its TIME_WAIT here too, but connect() picks its ports: the bind space is not its limit.
    expect(three.flows[2]!.bindExhaustion).toBe(false)
    expect(three.flows[2]!.bindTuplesPerAddress).toBeNull()
    expect(three.flows[2]!.bindUsablePorts).toBeNull()
    expect(three.flows[2]!.bindTargetQps).toBeNull()
    // Two addresses for a: the fewest any bound flow declares bounds them (b has 1): still 36,000.
    const mixed = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), [{...flows[0]!, client_addresses: 2, senders: 2}, flows[1]!])
    expect(mixed.flows[0]!.bindTuplesPerAddress).toBe(36000)
    // A bound flow whose peer closes keeps no TIME_WAIT here: not exhausted by the others.
    const peerCloses = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), [{...flows[0]!, closes_first: 'server', qps: 1000}])
    expect(peerCloses.flows[0]!.bindExhaustion).toBe(false)
    expect(peerCloses.flows[0]!.bindTuplesPerAddress).toBe(0)
  })

  it('bind() before connect(): a flow the others leave no room gets no target rate (not 0/s)', () => {
    // 28,260 ports (32768-61027): b at 471/s holds 28,260, a at 1/s 60: exhausted. a's room is
    // 28,260 − 28,260 = 0: no rate fits. b's room 28,260 − 60 = 28,200: 28200 / 60 / 1.1.
    const h = params({'net.ipv4.ip_local_port_range': '32768 61027', 'net.ipv4.tcp_max_tw_buckets': '262144'})
    const flows = [
      makeFlow({name: 'a', role: 'client', qps: 1, closes_first: 'client', peer: '198.18.0.10:80', bind_before_connect: true}),
      makeFlow({name: 'b', role: 'client', qps: 471, closes_first: 'client', peer: '198.18.0.11:80', bind_before_connect: true}),
    ]
    const r = runModel(h, flows)
    expect(r.flows[0]!.bindExhaustion).toBe(true)
    expect(r.flows[0]!.bindTargetQps).toBeNull()
    expect(r.flows[1]!.bindTargetQps).toBeCloseTo(28200 / 60 / 1.1, 9)
  })

  it('bind() before connect() at exactly the ports is not over them; a bound flow past connect()\'s limit is limited by bind() only', () => {
    // b alone at 471/s: 28,260 entries on 28,260 ports: not exhausted.
    const h = params({'net.ipv4.ip_local_port_range': '32768 61027', 'net.ipv4.tcp_max_tw_buckets': '262144'})
    const b = makeFlow({name: 'b', role: 'client', qps: 471, closes_first: 'client', bind_before_connect: true})
    expect(runModel(h, [b]).flows[0]!.bindExhaustion).toBe(false)
    // At 600/s connect() toward one destination would run out (36,000 > 28,260), but the port
    // was picked by bind(): its limit is the bind space (exhausted), not EADDRNOTAVAIL at connect().
    const m = runModel(h, [{...b, qps: 600}]).flows[0]!
    expect(m.portExhaustion).toBe(false)
    expect(m.bindExhaustion).toBe(true)
  })

  it('bound flows from 2 addresses under an overflowing cap: the target rate counts the kept share and both addresses', () => {
    // a, b bound, 2 addresses each, 1,000/s: each keeps at most its 28,232 × 2 tuples, 112,928
    // together over a cap of 100,000: kept k = 100000 / 112928 of closes. Per address the bound
    // flows hold (60,000 + 60,000) · k / 2 = 53,131 > 28,232: exhausted. b holds 60,000 · k / 2 per
    // address, so a may keep 28,232 − that per address, 2 × as much in all; each conn/s of a keeps
    // 60 · k: a's rate = (2 · 28232 − 60000 · k) / (60 · k) / 1.1.
    const bound2 = (name: string) => makeFlow({name, role: 'client', qps: 1000, closes_first: 'client', peer: `198.18.0.${name === 'a' ? 10 : 11}:80`, bind_before_connect: true, client_addresses: 2, senders: 2})
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '100000'}), [bound2('a'), bound2('b')])
    const k = 100000 / 112928
    expect(r.host.twOverflowShare).toBeCloseTo(1 - k, 12)
    expect(r.flows[0]!.bindTuplesPerAddress).toBeCloseTo((120000 * k) / 2, 6)
    expect(r.flows[0]!.bindExhaustion).toBe(true)
    expect(r.flows[0]!.bindTargetQps).toBeCloseTo((2 * 28232 - 60000 * k) / (60 * k) / 1.1, 6)
  })

  it('bind_before_connect on a server flow means nothing: connect() is not its call', () => {
    // 600/s over 2 endpoints: 36,000 entries, within the 2 × 28,232 tuples the server sees (bound per address it would be 28,232).
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), [makeFlow({role: 'server', closes_first: 'server', qps: 600, server_endpoints: 2, bind_before_connect: true})])
    expect(r.host.timeWaitTuples).toBe(36000)
    expect(r.flows[0]!.bindBeforeConnect).toBe(false)
    expect(r.flows[0]!.bindTuplesPerAddress).toBeNull()
    expect(r.flows[0]!.bindExhaustion).toBe(false)
  })

  it("a flow's TIME_WAIT entries are bounded by the ports the server sees: the clients' declared range", () => {
    // Server closing at 100/s, clients on 1,000 declared ports: at most 1,000 entries, not 6,000.
    const r = runModel(params({'net.ipv4.tcp_max_tw_buckets': '262144'}), [makeFlow({role: 'server', closes_first: 'server', qps: 100, client_port_range: [40000, 40999]})])
    expect(r.host.timeWaitTuples).toBe(1000)
    // A cap of exactly those entries is not overflowed.
    const at = runModel(params({'net.ipv4.tcp_max_tw_buckets': '1000'}), [makeFlow({role: 'server', closes_first: 'server', qps: 100, client_port_range: [40000, 40999]})])
    expect(at.host.twOverflow).toBe(false)
    expect(at.host.twOverflowShare).toBe(0)
  })

  it("a client behind a NAT keeps this host's conntrack entries for this host's hold, not the NAT's", () => {
    // 100/s, the host's nf_conntrack_tcp_timeout_time_wait 60 s: 6,000 (the NAT's 30 s is the NAT's table).
    const f = makeFlow({role: 'client', closes_first: 'server', qps: 100, nat: {port_range: [40000, 49999], conntrack_time_wait: 30}})
    const h = params({'net.netfilter.nf_conntrack_max': '1000', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '60'})
    expect(runModel(h, [f]).host.conntrackEntries).toBe(6000)
  })

  it('conntrack: a NAT flow holds its entries for its own conntrack_time_wait, others for the host\'s', () => {
    // 100/s through a NAT with conntrack_time_wait 30: 3,000 entries; the host's
    // nf_conntrack_tcp_timeout_time_wait (60) is for its own connections: 100/s × 60 = 6,000.
    const natFlow = makeFlow({role: 'nat', closes_first: 'server', qps: 100, nat: {port_range: [40000, 49999], conntrack_time_wait: 30}})
    const own = makeFlow({role: 'client', closes_first: 'server', qps: 100})
    const h = params({'net.netfilter.nf_conntrack_max': '1000', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '60'})
    expect(runModel(h, [natFlow]).host.conntrackEntries).toBe(3000)
    expect(runModel(h, [own]).host.conntrackEntries).toBe(6000)
    // Without the host's key: 120 s by default.
    expect(runModel(params({'net.netfilter.nf_conntrack_max': '1000'}), [own]).host.conntrackEntries).toBe(12000)
    // 6,000 > 1,000: full; 6000 × 1.1 = 6,600 needed. At exactly the max it is not full.
    expect(runModel(h, [own]).host).toMatchObject({conntrackFull: true, conntrackMaxNeeded: 6600})
    const exact = runModel(params({'net.netfilter.nf_conntrack_max': '6000', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '60'}), [own]).host
    expect(exact).toMatchObject({conntrackFull: false, conntrackMaxNeeded: null})
  })

  it('the cap is the collision remedy when it is at or below what a harmful server flow needs', () => {
    // 4 senders at 100/s toward a 6.8 server (test/model/flow-fields.test.ts): 1,229 buckets keep it within the budget.
    const f = makeFlow({role: 'server', closes_first: 'server', qps: 100, senders: 4})
    expect(modelFlow(params({'net.ipv4.tcp_timestamps': '1'}), f).twBucketsForSafeReuse).toBe(1229)
    expect(runModel(params({'net.ipv4.tcp_max_tw_buckets': '1229'}), [f]).host.twCapIsCollisionRemedy).toBe(true)
    expect(runModel(params({'net.ipv4.tcp_max_tw_buckets': '1230'}), [f]).host.twCapIsCollisionRemedy).toBe(false)
    // A cap of 0 on a shared-address server that needs none (4 senders at 10/s: within the budget): not a remedy.
    expect(runModel(params({'net.ipv4.tcp_max_tw_buckets': '0'}), [{...f, qps: 10}]).host.twCapIsCollisionRemedy).toBe(false)
    // A cap of 0 on a server that needs none: not a remedy.
    expect(runModel(params({'net.ipv4.tcp_max_tw_buckets': '0'}), [{...f, senders: 1}]).host.twCapIsCollisionRemedy).toBe(false)
    // One sender: not harmful, no value, not a remedy whatever the cap.
    expect(runModel(params({'net.ipv4.tcp_max_tw_buckets': '10'}), [{...f, senders: 1}]).host.twCapIsCollisionRemedy).toBe(false)
  })
})
