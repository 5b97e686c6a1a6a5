import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {modelFlow} from '../../src/model/flow.js'
import {usablePorts} from '../../src/model/ports.js'
import {hostParams, type HostParams} from '../../src/model/host.js'
import {HARM_BUDGET} from '../../src/model/predict.js'
import type {NatSpec} from '../../src/topology/types.js'
import {makeFlow, type TestFlow} from '../flow.js'

// Every field of one flow's model (src/model/flow.ts, modelFlow) for a few flows, each number
// worked out by hand in the comments from the kernel facts (docs/kernel.md): where the source
// port comes from, how soon it comes back, the client's limit and the remedy values.

function host(sysctls: Record<string, string> = {}, kernel: string | null = '6.18.44'): HostParams {
  return hostParams({
    source: 'test',
    kernel: kernel === null ? null : parseKernel(kernel),
    sysctls: {'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_reuse': '2', ...sysctls},
    counters: {},
  })
}
const flow = (over: TestFlow) => makeFlow({peer: '198.18.0.2:80', ...over})
const nat = (over: Partial<NatSpec> = {}): NatSpec => ({port_range: [50000, 50999], conntrack_time_wait: 120, port_mode: 'random', ...over})

describe('modelFlow: a client that closes first and runs out of ports', () => {
  it('2 addresses × 3 endpoints at 1,201.8/s on 1,000 ports: 200.3/s per tuple space against 1000 / 60 s', () => {
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 1201.8, client_addresses: 2, senders: 2, server_endpoints: 3}))
    // This host's own range picks the port: 40000-40999, 1,000 ports, 500 even (40000..40998).
    expect(m.portSource).toBe('this-host')
    expect(m.portRange).toEqual([40000, 40999])
    expect(m.usablePorts).toBe(1000)
    expect(m.firstParityPorts).toBe(500)
    expect(m.reservedPortsInRange).toBe(0)
    // 6.18 ≥ 5.18: the random advance, not an assumption; a port returns after the 500 even ones.
    expect(m.portSelection).toBe('parity-random')
    expect(m.portSelectionAssumed).toBe(false)
    expect(m.reuseIntervalConnects).toBe(500)
    // 2 × 3 = 6 tuple spaces, 1201.8 / 6 = 200.3/s each: a port comes back after 500 / 200.3 s.
    expect(m.tupleSpaces).toBe(6)
    expect(m.qpsPerTupleSpace).toBeCloseTo(200.3, 12)
    expect(m.reuseIntervalSeconds).toBeCloseTo(500 / 200.3, 12)
    expect(m.behindNat).toBe(false)
    expect(m.sharedAddresses).toBe(false)
    // The client closes: TIME_WAIT is here, 60 s, 1201.8 × 60 = 72,108 entries.
    expect(m.timeWaitSide).toBe('client')
    expect(m.timeWaitOnThisHost).toBe(true)
    expect(m.timeWaitSeconds).toBe(60)
    expect(m.timeWaitTuples).toBeCloseTo(72108, 6)
    // 1,000 ports held 60 s carry 1000/60 = 16.67/s per tuple space, 100/s for the 6.
    expect(m.exhaustionShare).toBeCloseTo(1 - 1000 / 60 / 200.3, 12)
    expect(m.portExhaustion).toBe(true)
    expect(m.connectsBeforeFailure).toBe(1000)
    // Every connect scans the 500 even ports first from 500 / 60 s per tuple space: × 6 = 50/s.
    expect(m.scanQps).toBeCloseTo(50, 9)
    expect(m.safeQps).toBeCloseTo(100, 9)
    expect(m.targetQps).toBeCloseTo(100 / 1.1, 9)
    // margin 1201.8 / 100 = 12.018; remedies aim 10 % past it: 13.2198.
    expect(m.margin).toBeCloseTo(12.018, 9)
    // 2 × 13.2198 = 26.44 -> 27 addresses; 3 × 13.2198 = 39.66 -> 40 endpoints;
    // 1000 × 13.2198 = 13,219.8 -> 13,220 ports: 40999 − 13220 + 1 = 27780 (even), above 1024.
    expect(m.addressesNeeded).toBe(27)
    expect(m.endpointsNeeded).toBe(40)
    expect(m.usablePortsNeeded).toBe(13220)
    expect(m.suggestedPortRange).toEqual([27780, 40999])
    // Server-side remedies do not apply; no vendor TIME_WAIT knob on this kernel.
    expect(m.twBucketsForSafeReuse).toBeNull()
    expect(m.vendorTimeWaitForSafeReuse).toBeNull()
    expect(m.natPoolPorts).toBeNull()
    expect(m.natTupleSpaces).toBeNull()
    expect(m.natPortMode).toBeNull()
    expect(m.natKernel).toBeNull()
    expect(m.natExhausted).toBe(false)
    expect(m.mechanism).toBe('client-exhaustion')
    expect(m.harmful).toBe(true)
    expect(m.harmBudget).toBe(HARM_BUDGET)
    // PAWS rejects in TIME_WAIT have their own counter from 6.16.
    expect(m.pawsCounter).toBe('TcpExtPAWSTimewait')
    expect(modelFlow(host({}, '6.15.0'), flow({role: 'client', closes_first: 'client', qps: 1})).pawsCounter).toBe('TcpExtPAWSEstab')
  })

  it('remedy sizes that come out whole: 33 addresses, 17 endpoints, 16,500 ports (not one more for floating-point noise)', () => {
    // 500/s from 2 addresses, 250/s per tuple space against 1000/60: margin 500 / (2 × 1000/60) = 15,
    // aim 15 × 1.1 = 16.5: 2 × 16.5 = 33 addresses, 1 × 16.5 -> 17 endpoints, 1000 × 16.5 = 16,500
    // ports: 40999 − 16500 + 1 = 24500.
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 500, client_addresses: 2, senders: 2}))
    expect(m.margin).toBeCloseTo(15, 12)
    expect(m.addressesNeeded).toBe(33)
    expect(m.endpointsNeeded).toBe(17)
    expect(m.usablePortsNeeded).toBe(16500)
    expect(m.suggestedPortRange).toEqual([24500, 40999])
    // The same over 2 endpoints from 1 address: 2 × 16.5 = 33 endpoints, 1 × 16.5 -> 17 addresses.
    const e = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 500, server_endpoints: 2}))
    expect(e.endpointsNeeded).toBe(33)
    expect(e.addressesNeeded).toBe(17)
    // Within its limit (10/s < 16.7/s): no remedy size at all.
    const ok = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 10}))
    expect(ok).toMatchObject({addressesNeeded: null, endpointsNeeded: null, usablePortsNeeded: null, suggestedPortRange: null})
  })

  it('closes that skip TIME_WAIT (the host over tcp_max_tw_buckets) hold its ports for less: the scan rate rises', () => {
    // Half the closes skip TIME_WAIT: ports held 30 s on average: the scan starts at 500 / 30 per tuple space.
    const f = flow({role: 'client', closes_first: 'client', qps: 10})
    expect(modelFlow({...host(), twOverflowShare: 0.5}, f).scanQps).toBeCloseTo(500 / 30, 9)
    // Every close skips it: no TIME_WAIT, no scan.
    expect(modelFlow({...host(), twOverflowShare: 1}, f).scanQps).toBeNull()
    // A server's clients keep their TIME_WAIT under their own caps: this host's share is not theirs.
    expect(modelFlow({...host(), twOverflowShare: 0.5}, flow({role: 'server', closes_first: 'client', qps: 10})).scanQps).toBeCloseTo(14116 / 60, 9)
  })

  it('a client behind a NAT that closes first: its own range runs out, and its own range is the one widened', () => {
    // The client's TIME_WAIT holds this host's ports toward the destination (40000-40999, 1,000
    // of them), whatever the NAT does after: 1000 / 60 per tuple space; at 200/s margin 12, aim
    // 13.2: 13,200 ports, as ip_local_port_range on this host: 40999 − 13200 + 1 = 27800. (The
    // NAT pool, 50000-51999, is not what ran out.)
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 200, nat: nat({port_range: [50000, 51999]})}))
    expect(m.portExhaustion).toBe(true)
    expect(m.connectsBeforeFailure).toBe(1000)
    expect(m.safeQps).toBeCloseTo(1000 / 60, 9)
    expect(m.usablePortsNeeded).toBe(13200)
    expect(m.suggestedPortRange).toEqual([27800, 40999])
    // Closing second behind the same NAT, the pool is what the server's TIME_WAIT holds: its range is the one to widen.
    const s = modelFlow(host(), flow({role: 'client', closes_first: 'server', qps: 200, senders: 2, nat: nat({port_range: [50000, 51999]})}))
    expect(s.usablePortsNeeded).not.toBeNull()
    expect(s.suggestedPortRange![1]).toBe(51999)
  })

  it("the range suggested for this host's own ports holds the ports needed net of its reserved ports", () => {
    // 39000-39499 reserved below the range: widening 40000-40999 down takes them in, and the low
    // end goes 500 further (13,200 needed at 200/s: 40999 − 13200 + 1 = 27800, less 500: 27300).
    const h = host({'net.ipv4.ip_local_reserved_ports': '39000-39499'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 200}))
    expect(m.usablePortsNeeded).toBe(13200)
    expect(m.suggestedPortRange).toEqual([27300, 40999])
    expect(usablePorts(m.suggestedPortRange!, h.reservedPorts)).toBe(13200)
    // The same for a client whose server closes (4 senders behind its address, harmful at 1.5/s, about twice its safe rate):
    // the range suggested holds the ports needed net of this host's reserved ones (the low end
    // made even can add one).
    const s = modelFlow(h, flow({role: 'client', closes_first: 'server', qps: 1.5, senders: 4}))
    const got = usablePorts(s.suggestedPortRange!, h.reservedPorts)
    expect(s.suggestedPortRange![0]).toBeLessThan(39000)
    expect(got).toBeGreaterThanOrEqual(s.usablePortsNeeded!)
    expect(got).toBeLessThanOrEqual(s.usablePortsNeeded! + 1)
  })

  it('a vendor tcp_tw_timeout that would carry the rate: the whole seconds 1,000 ports last at 200.3/s', () => {
    // tcp_tw_timeout 30: 1000/30 = 33.3/s < 200.3/s, still exhausted. A port may be held at most
    // 1000 / 200.3 = 4.99 s for the rate to fit: 4 s (whole seconds, rounded down).
    const m = modelFlow(host({'net.ipv4.tcp_tw_timeout': '30'}), flow({role: 'client', closes_first: 'client', qps: 200.3}))
    expect(m.timeWaitSeconds).toBe(30)
    expect(m.portExhaustion).toBe(true)
    expect(m.vendorTimeWaitForSafeReuse).toBe(4)
    // 200.3/s held 30 s: 6,009 entries; scanning from 500 / 30 s = 16.67/s.
    expect(m.timeWaitTuples).toBeCloseTo(6009, 9)
    expect(m.scanQps).toBeCloseTo(500 / 30, 9)
    // At 2,000/s no whole second is short enough (1000 / 2000 = 0.5 s): none.
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '30'}), flow({role: 'client', closes_first: 'client', qps: 2000})).vendorTimeWaitForSafeReuse).toBeNull()
    // At 1,000/s exactly 1 s fits (1000 / 1000 = 1).
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '30'}), flow({role: 'client', closes_first: 'client', qps: 1000})).vendorTimeWaitForSafeReuse).toBe(1)
    // Not exhausted (20/s < 33.3/s): nothing to shorten.
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '30'}), flow({role: 'client', closes_first: 'client', qps: 20})).vendorTimeWaitForSafeReuse).toBeNull()
  })

  it("a server whose clients close first: the clients' declared range is their limit", () => {
    // Role server, the client closes: its TIME_WAIT is on the clients, 60 s (mainline), with
    // their declared 2,000 ports (1,000 even): 2000 / 60 per tuple space; no knob of this host
    // applies, nor its own range (1,000 ports), reserved ports or ip_unprivileged_port_start.
    const h = host({'net.ipv4.tcp_tw_timeout': '30', 'net.ipv4.ip_local_reserved_ports': '20000-20099', 'net.ipv4.ip_unprivileged_port_start': '20000'})
    const m = modelFlow(h, flow({role: 'server', closes_first: 'client', qps: 100, client_port_range: [20000, 21999]}))
    expect(m.portSource).toBe('declared')
    expect(m.portRange).toEqual([20000, 21999])
    expect(m.timeWaitOnThisHost).toBe(false)
    expect(m.timeWaitSeconds).toBe(60)
    expect(m.connectsBeforeFailure).toBe(2000)
    expect(m.exhaustionShare).toBeCloseTo(1 - 2000 / 60 / 100, 12)
    expect(m.scanQps).toBeCloseTo(1000 / 60, 9)
    // The vendor knob is this host's: it does not shorten the clients' TIME_WAIT.
    expect(m.vendorTimeWaitForSafeReuse).toBeNull()
    // Widening the clients' range from its own high end: margin 100 / (2000/60) = 3, aim 3.3,
    // 6,600 ports: 21999 − 6600 + 1 = 15400.
    expect(m.usablePortsNeeded).toBe(6600)
    expect(m.suggestedPortRange).toEqual([15400, 21999])
  })

  it("this host's reserved ports shorten its own client limit", () => {
    // 40000-40099 reserved: 900 ports (450 even) held 60 s: 900/60 = 15/s; at 200/s exhausted
    // after 900 connects, the scan from 450 / 60.
    const m = modelFlow(host({'net.ipv4.ip_local_reserved_ports': '40000-40099'}), flow({role: 'client', closes_first: 'client', qps: 200}))
    expect(m.connectsBeforeFailure).toBe(900)
    expect(m.scanQps).toBeCloseTo(450 / 60, 9)
    expect(m.safeQps).toBeCloseTo(15, 9)
  })

  it('a flow whose server closes has no client limit: no scan rate, no failure count', () => {
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'server', qps: 200}))
    expect(m.scanQps).toBeNull()
    expect(m.connectsBeforeFailure).toBeNull()
    expect(m.portExhaustion).toBe(false)
    // One sender connecting directly: no limit at all, nothing to aim for.
    expect(m.safeQps).toBeNull()
    expect(m.targetQps).toBeNull()
    expect(m.margin).toBe(0)
  })

  it('exactly at the limit is not over it: no remedy sizes', () => {
    // 1000/60 conn/s on 1,000 ports held 60 s: margin exactly 1.
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'client', qps: 1000 / 60}))
    expect(m.margin).toBe(1)
    expect(m).toMatchObject({addressesNeeded: null, endpointsNeeded: null, usablePortsNeeded: null, suggestedPortRange: null})
  })
})

describe('modelFlow: where the port the server sees comes from', () => {
  it('a server with undeclared clients: the default range 32768-60999, as assumed', () => {
    const m = modelFlow(host({}, '5.15.0'), flow({role: 'server', closes_first: 'server', qps: 10}))
    expect(m.portSource).toBe('assumed-default')
    expect(m.portRange).toEqual([32768, 60999])
    expect(m.usablePorts).toBe(28232)
    // 5.15 (4.9–5.17): the random advance is the 2022 backport's, assumed.
    expect(m.portSelection).toBe('parity-random')
    expect(m.portSelectionAssumed).toBe(true)
    expect(m.timeWaitSide).toBe('server')
    expect(m.keepalive).toBe(false)
    expect(modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 10, keepalive: true})).keepalive).toBe(true)
  })

  it("this host's reserved ports count against its own range only, not against the clients' declared one", () => {
    const h = host({'net.ipv4.ip_local_reserved_ports': '20000-20099,40000-40099'})
    // Client: 40000-40999 less 40000-40099 (100 ports, 50 even): 900 usable, 450 first-parity.
    const own = modelFlow(h, flow({role: 'client', closes_first: 'server', qps: 10}))
    expect(own.usablePorts).toBe(900)
    expect(own.firstParityPorts).toBe(450)
    expect(own.reservedPortsInRange).toBe(100)
    expect(own.reuseIntervalConnects).toBe(450)
    // Server: the clients' declared 20000-20999 is theirs; this host's list does not apply.
    const theirs = modelFlow(h, flow({role: 'server', closes_first: 'server', qps: 10, client_port_range: [20000, 20999]}))
    expect(theirs.usablePorts).toBe(1000)
    expect(theirs.reservedPortsInRange).toBe(0)
  })

  it('behind a NAT: the NAT pool picks the port; its kernel as declared, this host\'s for role nat, else unknown', () => {
    const f = (over: TestFlow) => flow({closes_first: 'server', qps: 10, client_addresses: 2, senders: 4, server_endpoints: 3, ...over})
    const m = modelFlow(host({}, '5.15.0'), f({role: 'server', nat: nat()}))
    expect(m.portSource).toBe('nat')
    expect(m.portRange).toEqual([50000, 50999])
    expect(m.behindNat).toBe(true)
    expect(m.sharedAddresses).toBe(true)
    // The NAT hands out tuples at random over its 1,000 ports: no parity pass, nothing assumed
    // about connect() (even on 5.15), and a tuple comes back after the whole pool.
    expect(m.portSelection).toBe('nat')
    expect(m.portSelectionAssumed).toBe(false)
    expect(m.reuseIntervalConnects).toBe(1000)
    expect(m.natPoolPorts).toBe(1000)
    expect(m.natTupleSpaces).toBe(6)
    expect(m.natPortMode).toBe('random')
    expect(m.natKernel).toBe('unknown')
    expect(modelFlow(host(), f({role: 'server', nat: nat({kernel: '6.1.0'})})).natKernel).toBe('6.1.0')
    expect(modelFlow(host(), f({role: 'nat', nat: nat()})).natKernel).toBe('6.18.44')
    expect(modelFlow(host({}, null), f({role: 'nat', nat: nat()})).natKernel).toBe('unknown')
    // A client behind a NAT: the pool, not this host's range, is what the server sees.
    const c = modelFlow(host(), f({role: 'client', nat: nat({port_mode: 'fully-random'})}))
    expect(c.portSource).toBe('nat')
    expect(c.portRange).toEqual([50000, 50999])
    expect(c.natPortMode).toBe('fully-random')
    expect(c.natKernel).toBe('unknown')
  })

  it('more senders than addresses share them without a NAT; as many do not', () => {
    expect(modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 10, client_addresses: 2, senders: 3})).sharedAddresses).toBe(true)
    expect(modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 10, client_addresses: 2, senders: 2})).sharedAddresses).toBe(false)
  })
})

describe('modelFlow: the server-side remedy values and what kind of harm it is', () => {
  // 4 senders behind 1 address at q/s toward a 6.18 server that closes first, clients on the
  // default range: a port returns after 14,116 connects, so c(T) = 1 − exp(−T·q / 14116) of SYNs
  // meet TIME_WAIT; 3 of 4 are from another sender (unrelated), rejected half the time:
  // x = 3/8 · c; the RST clears the entry: rejected r = x / (1 + x); with PAWS the resend is
  // judged afresh: stall = r². Within the budget 0.001 while r ≤ √0.001, i.e. x ≤ r / (1 − r),
  // c ≤ x / (3/8) = cb.
  const rb = Math.sqrt(0.001)
  const cb = rb / (1 - rb) / 0.375
  const shared = (over: TestFlow = {}) => flow({role: 'server', closes_first: 'server', qps: 100, senders: 4, ...over})

  it('tcp_max_tw_buckets for safe reuse: the largest cap b with b / 14116 ≤ cb (1,229)', () => {
    // bucketCap: at most b of the 14,116 tuples in TIME_WAIT, so c ≤ b / 14116.
    const m = modelFlow(host(), shared())
    expect(m.twBucketsForSafeReuse).toBe(Math.floor(cb * 14116))
    expect(m.twBucketsForSafeReuse).toBe(1229)
    // Without a vendor knob there is no TIME_WAIT length to suggest.
    expect(m.vendorTimeWaitForSafeReuse).toBeNull()
    // The same with a cap already set (20,000, above the tuples): the value does not depend on it.
    expect(modelFlow(host({'net.ipv4.tcp_max_tw_buckets': '20000'}), shared()).twBucketsForSafeReuse).toBe(1229)
    // A cap below it already keeps the stall within the budget: still the value that would.
    expect(modelFlow(host({'net.ipv4.tcp_max_tw_buckets': '1000'}), shared()).twBucketsForSafeReuse).toBe(1229)
    // One sender per address: no shared addresses, nothing to remedy on the server.
    expect(modelFlow(host(), shared({senders: 1})).twBucketsForSafeReuse).toBeNull()
    // Client role, or a client that closes: not this server's TIME_WAIT.
    expect(modelFlow(host(), shared({role: 'client'})).twBucketsForSafeReuse).toBeNull()
    expect(modelFlow(host(), shared({closes_first: 'client'})).twBucketsForSafeReuse).toBeNull()
  })

  it('a vendor TIME_WAIT for safe reuse: the largest whole s with 1 − exp(−s·100/14116) ≤ cb (12 s)', () => {
    // s ≤ −ln(1 − cb) · 14116 / 100 = 12.86.
    const m = modelFlow(host({'net.ipv4.tcp_tw_timeout': '60'}), shared())
    expect(m.timeWaitSeconds).toBe(60)
    expect(m.harmful).toBe(true)
    expect(m.vendorTimeWaitForSafeReuse).toBe(Math.floor((-Math.log(1 - cb) * 14116) / 100))
    expect(m.vendorTimeWaitForSafeReuse).toBe(12)
    // The largest: 12 s is within the budget, 13 s is not.
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '12'}), shared()).harmful).toBe(false)
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '13'}), shared()).harmful).toBe(true)
    // Already at 10 s: c = 1 − exp(−1000/14116) = 0.068 ≤ cb = 0.087, not harmful, nothing to shorten
    // and no cap needed.
    const short = modelFlow(host({'net.ipv4.tcp_tw_timeout': '10'}), shared())
    expect(short.harmful).toBe(false)
    expect(short.vendorTimeWaitForSafeReuse).toBeNull()
    expect(short.twBucketsForSafeReuse).toBeNull()
    // At 1,000/s 1 s is the most: c(1) = 1 − exp(−1000/14116) = 0.068 ≤ cb, c(2) = 0.132 > cb.
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '60'}), shared({qps: 1000})).vendorTimeWaitForSafeReuse).toBe(1)
    // At 10,000/s even 1 s is too long (c(1) = 1 − exp(−10000/14116) = 0.51): none.
    expect(modelFlow(host({'net.ipv4.tcp_tw_timeout': '60'}), shared({qps: 10000})).vendorTimeWaitForSafeReuse).toBeNull()
  })

  it('a stall share exactly at the harm budget is within it: not harmful, no remedy values', () => {
    // The flow's own harm_budget set to its stall share at 100/s, r² (by hand above): the share
    // is not above it.
    const c = 1 - Math.exp(-6000 / 14116)
    const x = 0.375 * c
    const r = x / (1 + x)
    const m = modelFlow(host({'net.ipv4.tcp_tw_timeout': '60'}), shared({harm_budget: r * r}))
    expect(m.stallShare).toBeCloseTo(r * r, 15)
    expect(m.harmful).toBe(false)
    expect(m.crossSenderHarm).toBe(false)
    expect(m.twBucketsForSafeReuse).toBeNull()
    expect(m.vendorTimeWaitForSafeReuse).toBeNull()
    // 35 % of SYNs collide, within the budget: benign.
    expect(m.benignCollisions).toBe(true)
  })

  it('collisions of exactly 1 % are within the collision budget: not benign collisions', () => {
    // One sender: 1 − exp(−60·q / 14116) = 0.01 at q = −ln(0.99) · 14116 / 60.
    const q = (-Math.log(0.99) * 14116) / 60
    const m = modelFlow(host(), shared({senders: 1, qps: q}))
    expect(m.collisionShare).toBeCloseTo(0.01, 15)
    expect(m.benignCollisions).toBe(false)
  })

  it('4 server endpoints: 4 × 14,116 tuples, so the cap for safe reuse is 4 × as large (4,916)', () => {
    // 400/s over 4 endpoints: 100/s per tuple space, the same c; b / 56464 ≤ cb.
    const m = modelFlow(host(), shared({qps: 400, server_endpoints: 4}))
    expect(m.tupleSpaces).toBe(4)
    expect(m.twBucketsForSafeReuse).toBe(Math.floor(cb * 4 * 14116))
    expect(m.twBucketsForSafeReuse).toBe(4916)
  })

  it('tcp_rfc1337=1 is the harm at 21/s: harmful with it, within the budget without it', () => {
    // c = 1 − exp(−60·21/14116) = 0.08540, x = 0.375c = 0.032026.
    // rfc1337=0: r = x / (1 + x) = 0.031032, stall r² = 0.000963 ≤ 0.001.
    // rfc1337=1: nothing clears, r = x, stall ≈ x² = 0.001026 > 0.001 (the rate-limited ACKs add
    // ~1e-8: 21·x / 14116 rejects per tuple and second, 1 − exp(−0.5 · that)).
    const on = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}), shared({qps: 21}))
    expect(on.harmful).toBe(true)
    expect(on.rfc1337Harm).toBe(true)
    // Without tcp_rfc1337 it is not harmful: not a cross-sender harm.
    expect(on.crossSenderHarm).toBe(false)
    expect(on.benignCollisions).toBe(false)
    const off = modelFlow(host(), shared({qps: 21}))
    expect(off.harmful).toBe(false)
    expect(off.rfc1337Harm).toBe(false)
    expect(off.crossSenderHarm).toBe(false)
    // 8.5 % of SYNs collide, over the 1 % collision budget, and stay within the harm budget.
    expect(off.benignCollisions).toBe(true)
    // At 10/s it is within the budget with tcp_rfc1337=1 too (x² = (0.375 · 0.0416)² = 0.00024): no harm of either kind.
    const low = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}), shared({qps: 10}))
    expect(low.harmful).toBe(false)
    expect(low.rfc1337Harm).toBe(false)
    expect(low.crossSenderHarm).toBe(false)
    // At 100/s it is harmful either way (r² = 0.0132 without): both harms.
    const both = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}), shared())
    expect(both.rfc1337Harm).toBe(true)
    expect(both.crossSenderHarm).toBe(true)
    const plain = modelFlow(host(), shared())
    expect(plain.rfc1337Harm).toBe(false)
    expect(plain.crossSenderHarm).toBe(true)
    expect(plain.benignCollisions).toBe(false)
  })

  it("a client's own tcp_rfc1337 is not the server's: cross-sender harm through a remapping NAT", () => {
    // Client role, 2 senders through a random NAT of 1,000 ports at 125/s (test/model/harm.test.ts):
    // stall ≈ (1/3)², the server's defaults assumed (rfc1337=0), whatever this client has.
    const f = flow({role: 'client', closes_first: 'server', qps: 125, senders: 2, nat: nat({port_range: [40000, 40999]})})
    const m = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}), f)
    expect(m.harmful).toBe(true)
    expect(m.crossSenderHarm).toBe(true)
    expect(m.rfc1337Harm).toBe(false)
  })

  it('one sender directly, few collisions: neither harmful nor benign collisions (under 1 %)', () => {
    // 1 sender at 2/s: c = 1 − exp(−120/14116) = 0.85 % ≤ 1 %.
    const m = modelFlow(host(), shared({senders: 1, qps: 2}))
    expect(m.collisionShare).toBeCloseTo(1 - Math.exp(-120 / 14116), 12)
    expect(m.benignCollisions).toBe(false)
    // 3/s: 1.27 % > 1 %, accepted (own tuples): benign.
    expect(modelFlow(host(), shared({senders: 1, qps: 3})).benignCollisions).toBe(true)
    // The client closing: no server collisions at all, whatever the rate.
    expect(modelFlow(host(), shared({closes_first: 'client', qps: 3})).benignCollisions).toBe(false)
  })
})
