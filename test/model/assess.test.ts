import {describe, expect, it} from 'vitest'

import {assess, predictFlow, withOverflowShare} from '../../src/model/predict.js'
import type {NatSpec} from '../../src/topology/types.js'
import {host} from './hosts.js'
import {makeFlow, type TestFlow} from '../flow.js'

// assess (src/model/predict.ts): the shares behind one prediction that the lab scenarios of
// test/model/harm.test.ts do not print, each worked out by hand from docs/kernel.md.

const nat = (over: Partial<NatSpec> = {}): NatSpec => ({port_range: [1024, 65535], conntrack_time_wait: 120, port_mode: 'preserve', ...over})
const server = (over: TestFlow) => makeFlow({role: 'server', closes_first: 'server', ...over})

describe('assess: a port-preserving NAT in front of 2 senders on one 1,000-port range', () => {
  // "Why" flow 2 (test/model/harm.test.ts): 100/s, 2 senders on 40000-40999 (500 even ports
  // each), NAT pool 1024-65535, conntrack 120 s. A sender connects 50/s and is back on a port
  // after 500 / 50 = 10 s; the other sender's connects from that port are remapped: 1/2. Holes:
  // 50/s remapped × (60 − 10) s = 2,500 of the 64,512 − 500 = 64,012 free tuples.
  const why2 = (over: TestFlow = {}) => server({qps: 100, senders: 2, client_port_range: [40000, 40999], nat: nat(), ...over})

  it('remap share, holes, reuse time, regime, and the sender reuse share', () => {
    const a = assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2())
    expect(a.natRemapShare).toBe(0.5)
    expect(a.natHoles).toBe(2500)
    expect(a.natReuseSeconds).toBe(10)
    // 50/s remapped into 64,012 free tuples: far below 64012 / 120 = 533/s, free.
    expect(a.natRegime).toBe('free')
    expect(a.natDropShare).toBe(0)
    expect(a.natCapacityQps).toBeCloseTo(64512 / 120, 9)
    // The kept half meet their own TIME_WAIT 1 − exp(−60 · 50 / 500) = 1 − e^−6 of the time.
    expect(a.senderReuseShare).toBeCloseTo(0.5 * (1 - Math.exp(-6)), 12)
    // Who is unrelated: a remapped SYN always (6.18.44 clients: timestamp offsets per 4-tuple,
    // 1/2 another sender + 1/2 itself from another port), a kept one never (its own tuple).
    const remap = 0.5 * (2500 / 64012)
    const own = 0.5 * (1 - Math.exp(-6))
    expect(a.collisionShare).toBeCloseTo(remap + own, 12)
    expect(a.unrelatedShare).toBeCloseTo(remap / (remap + own), 12)
    expect(a.paws).toBe(true)
    expect(a.fastResend).toBe(true)
  })

  it('a stuck tuple costs 1 / (2 senders × 500 ports) of connects, only with tcp_rfc1337=1, PAWS and reuse within 60 s', () => {
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2()).stuckTupleShare).toBeCloseTo(1 / 1000, 15)
    // Two server endpoints at twice the rate: twice the tuples, half the share; per endpoint
    // the same 100/s, so the same shares, and twice the NAT's capacity (2 × 64512 / 120).
    const two = assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2({server_endpoints: 2, qps: 200}))
    expect(two.stuckTupleShare).toBeCloseTo(1 / 2000, 15)
    expect(two.senderReuseShare).toBeCloseTo(0.5 * (1 - Math.exp(-6)), 12)
    expect(two.natHoles).toBe(2500)
    expect(two.natCapacityQps).toBeCloseTo((2 * 64512) / 120, 9)
    // The RST clears the entry (rfc1337=0): nothing sticks.
    expect(assess(host(), why2()).stuckTupleShare).toBe(0)
    // No timestamps on the server: the ISN decides, no PAWS reject to re-arm it.
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1', 'net.ipv4.tcp_timestamps': '0'}), why2()).stuckTupleShare).toBe(0)
    // 16/s: a sender is back on a port after 500 / 8 = 62.5 s, past the 60 s of TIME_WAIT.
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2({qps: 16})).stuckTupleShare).toBe(0)
    // Back after exactly 60 s (600 even ports of 40000-41199 at 10/s each): the TIME_WAIT it
    // met has just run out, nothing sticks.
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2({qps: 20, client_port_range: [40000, 41199]})).stuckTupleShare).toBe(0)
    // One sender: nobody else's TIME_WAIT to land on (no remaps).
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2({senders: 1})).stuckTupleShare).toBe(0)
    // A 6.6 client (offsets per host pair) behind it: a remapped SYN of the other sender is
    // still unrelated (1/2), so it can stick.
    expect(assess(host({'net.ipv4.tcp_rfc1337': '1'}), why2({client_kernel: '6.6.0'})).stuckTupleShare).toBeCloseTo(1 / 1000, 15)
  })

  it('a 6.1 NAT with a small pool drops the remapped SYNs it has no tuple for', () => {
    // Pool 40000-41999 (2,000 ports), 1,500 free beside the senders' 500: 1500 / 120 = 12.5/s;
    // 50/s remapped: 1 − 12.5/50 = 3/4 of them dropped, 3/8 of all connects; every SYN attempt
    // dropped the same way: (3/8)^7 time out.
    const a = assess(host(), why2({nat: nat({port_range: [40000, 41999], kernel: '6.1.0'})}))
    expect(a.natRegime).toBe('exhausted')
    expect(a.natDropShare).toBeCloseTo(0.375, 12)
    expect(a.timeoutShare).toBeCloseTo(0.375 ** 7, 12)
    expect(a.mechanism).toBe('nat-drop')
    // A 6.5 NAT evicts instead: nothing dropped, nothing times out.
    const ev = assess(host(), why2({nat: nat({port_range: [40000, 41999], kernel: '6.5.0'})}))
    expect(ev.natDropShare).toBe(0)
    expect(ev.timeoutShare).toBe(0)
    expect(ev.natRegime).toBe('free')
  })
})

describe('assess: resets and the mechanism', () => {
  it('tcp_rfc1337=1: only the rejects whose stale ACK was not rate-limited draw an RST', () => {
    // Random NAT, 1,000 ports, 2 senders at 125/s (harm.test.ts): c = 1 − e^−7.5, r = c/2 (nothing
    // clears); 125 · r / 1000 rejects per tuple and second, an ACK suppressed within 0.5 s of the last.
    const a = assess(host({'net.ipv4.tcp_rfc1337': '1'}), server({qps: 125, senders: 2, nat: nat({port_range: [40000, 40999], port_mode: 'random'})}))
    const r = (1 - Math.exp(-7.5)) / 2
    const rl = 1 - Math.exp(-0.5 * ((125 * r) / 1000))
    expect(a.rejectShare).toBeCloseTo(r, 12)
    expect(a.resetShare).toBeCloseTo(r * (1 - rl), 12)
    // With the RST clearing (rfc1337=0) nothing is rate-limited: every reject draws an RST.
    const b = assess(host(), server({qps: 125, senders: 2, nat: nat({port_range: [40000, 40999], port_mode: 'random'})}))
    expect(b.resetShare).toBe(b.rejectShare)
    expect(b.resetShare).toBeGreaterThan(0)
  })

  it('rejections that all recover within ms are "fast-resend"; no rejections and no drops are "none"', () => {
    // Server without timestamps, 2 senders through a random NAT: rejected by sequence number,
    // the RST clears, the resend finds the tuple free: stall 0.
    const a = assess(host({'net.ipv4.tcp_timestamps': '0'}), server({qps: 125, senders: 2, nat: nat({port_range: [40000, 40999], port_mode: 'random'})}))
    expect(a.rejectShare).toBeGreaterThan(0.3)
    expect(a.stallShare).toBe(0)
    expect(a.mechanism).toBe('fast-resend')
    expect(assess(host(), server({qps: 1})).mechanism).toBe('none')
  })

  it('the client limit: ports / hold for every tuple space, none when every close skips TIME_WAIT', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_max_tw_buckets': '100'})
    const f = makeFlow({role: 'client', closes_first: 'client', qps: 600, client_addresses: 2, senders: 2, server_endpoints: 3})
    // 1,000 ports held 60 s per tuple space, 6 spaces: 6 × 1000/60 = 100/s.
    expect(assess(h, f).exhaustionCapacityQps).toBeCloseTo(100, 9)
    // Half the closes skip TIME_WAIT (the host's cap overflows): ports held 30 s on average,
    // 6 × 1000/30 = 200/s; each space's 100/s is over its 33.3/s: 1 − (1000/30)/100 = 2/3 fail.
    const half = {...h, twOverflowShare: 0.5}
    expect(assess(half, f).exhaustionCapacityQps).toBeCloseTo(200, 9)
    expect(assess(half, f).exhaustionShare).toBeCloseTo(1 - 1000 / 30 / 100, 12)
    // Every close skips it: no TIME_WAIT, no limit.
    const all = {...h, twOverflowShare: 1}
    expect(assess(all, f).exhaustionCapacityQps).toBeNull()
    expect(assess(all, f).exhaustionShare).toBe(0)
    // A server flow's clients: their default range, 28,232 ports / 60 s per space, this host's cap ignored.
    expect(assess(half, makeFlow({role: 'server', closes_first: 'client', qps: 1})).exhaustionCapacityQps).toBeCloseTo(28232 / 60, 9)
  })
})

describe('assess: what it takes from this host, and what it assumes of the other side', () => {
  // 2 senders through a random NAT of 1,000 ports at 125/s (test/model/harm.test.ts): c = 1 − e^−7.5,
  // every remapped SYN unrelated (6.18 clients), x = c/2, rejected r = x / (1 + x), stall r².
  const c = 1 - Math.exp(-7.5)
  const r = c / 2 / (1 + c / 2)
  const remapped = (over: TestFlow) => makeFlow({closes_first: 'server', qps: 125, senders: 2, nat: nat({port_range: [40000, 40999], port_mode: 'random'}), ...over})

  it("a client's own tcp_rfc1337, tcp_max_tw_buckets and timestamps are not the server's: the server's defaults", () => {
    for (const sysctls of [{'net.ipv4.tcp_rfc1337': '1'}, {'net.ipv4.tcp_max_tw_buckets': '20'}] as Record<string, string>[]) {
      const a = assess(host(sysctls), remapped({role: 'client'}))
      expect(a.rejectShare, JSON.stringify(sysctls)).toBeCloseTo(r, 12)
      expect(a.stallShare, JSON.stringify(sysctls)).toBeCloseTo(r * r, 12)
      expect(a.mechanism).toBe('server-tw-reject')
    }
    // A NAT host without timestamps: the server still has them (its default), the senders too: PAWS.
    const n = assess(host({'net.ipv4.tcp_timestamps': '0'}), remapped({role: 'nat'}))
    expect(n.paws).toBe(true)
    expect(n.stallShare).toBeCloseTo(r * r, 12)
    // A client without timestamps: no PAWS; the RST clears and the resend goes through.
    const noTs = assess(host({'net.ipv4.tcp_timestamps': '0'}), remapped({role: 'client'}))
    expect(noTs.paws).toBe(false)
    expect(noTs.stallShare).toBe(0)
    expect(noTs.mechanism).toBe('fast-resend')
  })

  it('a server whose clients declare tcp_timestamps=0: no PAWS, the rejections recover in ms', () => {
    const a = assess(host(), remapped({role: 'server', client_timestamps: 0}))
    expect(a.paws).toBe(false)
    expect(a.rejectShare).toBeCloseTo(r, 12)
    expect(a.stallShare).toBe(0)
    // tcp_timestamps=2 on the clients: timestamps without a random offset: still PAWS.
    expect(assess(host(), remapped({role: 'server', client_timestamps: 2})).paws).toBe(true)
  })

  it("a NAT's kernel: declared, this host's for role nat, else 6.5+ assumed (it evicts)", () => {
    // 1,000 ports, conntrack 120 s: 8.33/s; at 125/s a NAT before 6.5 drops 1 − 8.33/125.
    const drop = 1 - 1000 / 120 / 125
    expect(assess(host({}, '6.1.0'), remapped({role: 'nat'})).natDropShare).toBeCloseTo(drop, 12)
    expect(assess(host({}, '6.1.0'), remapped({role: 'server'})).natDropShare).toBe(0)
    expect(assess(host({}, '6.1.0'), remapped({role: 'server'})).natRegime).toBe('evicting')
    expect(assess(host(), remapped({role: 'server', nat: nat({port_range: [40000, 40999], port_mode: 'random', kernel: '6.1.0'})})).natDropShare).toBeCloseTo(drop, 12)
    // A role nat host declaring its NAT's kernel: the declaration (6.5) wins over this host's 6.1.
    expect(assess(host({}, '6.1.0'), remapped({role: 'nat', nat: nat({port_range: [40000, 40999], port_mode: 'random', kernel: '6.5.0'})})).natDropShare).toBe(0)
  })

  it("this host's reserved ports rotate its own connects only", () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.ip_local_reserved_ports': '40000-40099'})
    // Client at 10/s: 450 even ports left, 1 − exp(−60 · 10 / 450) of its SYNs meet its own TIME_WAIT.
    expect(assess(h, makeFlow({role: 'client', closes_first: 'server', qps: 10})).collisionShare).toBeCloseTo(1 - Math.exp(-600 / 450), 12)
    // Server with clients on 40000-40999 declared: theirs, 500 even ports.
    expect(assess(h, makeFlow({role: 'server', closes_first: 'server', qps: 10, client_port_range: [40000, 40999]})).collisionShare).toBeCloseTo(1 - Math.exp(-600 / 500), 12)
  })

  it('parity selection (4.6) on a preserve NAT at 2/s: no collision at all, so the remapped share is who would be unrelated', () => {
    // A sender at 1/s is back on a port after 500 s > 60 s: parity selection never meets its own
    // TIME_WAIT; no holes (500 s ≥ 120 s). 4.6 clients: offsets per host pair, so a remapped SYN
    // is unrelated only when it is the other sender's: 1/2.
    const a = assess(host({}, '4.6.0'), server({qps: 2, senders: 2, client_port_range: [40000, 40999], nat: nat()}))
    expect(a.collisionShare).toBe(0)
    expect(a.unrelatedShare).toBe(0.5)
  })
})

describe('assess: the preserve NAT pieces the lab scenarios leave at 1', () => {
  const why2 = (over: TestFlow = {}) => server({qps: 100, senders: 2, client_port_range: [40000, 40999], nat: nat(), ...over})
  const rs = (c: number, unrelated: number, clears: boolean) => (clears ? (0.5 * unrelated * c) / (1 + 0.5 * unrelated * c) : 0.5 * unrelated * c)

  it("senders' range not wholly inside the pool: every connection remapped", () => {
    // 40000-40999 starts below a pool 40500-45000, or ends past a pool 39000-40500.
    expect(assess(host(), why2({nat: nat({port_range: [40500, 45000]})})).natRemapShare).toBe(1)
    expect(assess(host(), why2({nat: nat({port_range: [39000, 40500]})})).natRemapShare).toBe(1)
    expect(assess(host(), why2({nat: nat({port_range: [40000, 40999]})})).natRemapShare).toBe(0.5)
  })

  it('a client that closes first behind a preserve NAT: no collisions on the server side', () => {
    const a = assess(host(), why2({closes_first: 'client'}))
    expect(a.collisionShare).toBe(0)
    expect(a.rejectShare).toBe(0)
    expect(a.natRemapShare).toBe(0.5)
  })

  it('4.10 clients (offsets per connection) are unrelated to their own tuples too: both parts rejected', () => {
    // remapped: 1/2 · 2500/64012, kept: 1/2 · (1 − e^−6), both unrelated (1).
    const remap = 0.5 * (2500 / 64012)
    const own = 0.5 * (1 - Math.exp(-6))
    const a = assess(host(), why2({client_kernel: '4.10.0'}))
    expect(a.unrelatedShare).toBeCloseTo(1, 12)
    expect(a.rejectShare).toBeCloseTo(rs(remap, 1, true) + rs(own, 1, true), 12)
    // 6.6 clients (per host pair): a remapped SYN is the other sender's half the time.
    expect(assess(host(), why2({client_kernel: '6.6.0'})).unrelatedShare).toBeCloseTo((0.5 * remap) / (remap + own), 12)
  })

  it('a 6.1 NAT with a small pool and tcp_max_tw_buckets=100 over 2 endpoints', () => {
    // 200/s over 2 endpoints (100/s each), pool 40000-41999: 1,500 free tuples, holes 2,500:
    // hole share 1; 3/4 of the remaps dropped (1500/120 = 12.5 of 50/s). The cap: at most 100
    // of the 1,500 × 2 free tuples, and of the 500 × 2 own ones, in TIME_WAIT.
    const a = assess(host({'net.ipv4.tcp_max_tw_buckets': '100'}), why2({qps: 200, server_endpoints: 2, nat: nat({port_range: [40000, 41999], kernel: '6.1.0'})}))
    const remap = 0.5 * (100 / 3000) * 0.25
    const own = 0.5 * Math.min(1 - Math.exp(-6), 100 / 1000)
    expect(a.natDropShare).toBeCloseTo(0.375, 12)
    expect(a.collisionShare).toBeCloseTo(remap + own, 12)
    // Rejected: the remapped part only (own tuples related); its resend is remapped afresh and
    // rejected as a remapped SYN that found a tuple: stall = rejected × that.
    const rejected = rs(remap, 1, true)
    const rr = rs((100 / 3000) * 0.25, 1, true)
    expect(a.rejectShare).toBeCloseTo(rejected, 12)
    expect(a.twStallShare).toBeCloseTo(rejected * rr, 12)
  })
})

describe('assess and safe_qps: limits that meet', () => {
  it('this host is the client: its kernel, not a declared client_kernel, decides the SYN resend', () => {
    // 2 senders through a random NAT at 125/s (harm.test.ts): 6.18 resends fast: stall r², not r.
    const c = 1 - Math.exp(-7.5)
    const r = c / 2 / (1 + c / 2)
    const a = assess(host(), makeFlow({role: 'client', closes_first: 'server', qps: 125, senders: 2, client_kernel: '5.4.0', nat: nat({port_range: [40000, 40999], port_mode: 'random'})}))
    expect(a.fastResend).toBe(true)
    expect(a.stallShare).toBeCloseTo(r * r, 12)
  })

  it("tcp_tw_reuse is this host's outgoing connections' only: not a server's clients'", () => {
    const a = assess(host({'net.ipv4.tcp_tw_reuse': '1'}), makeFlow({role: 'server', closes_first: 'client', qps: 100}))
    expect(a.twReuseEffective).toBe(false)
    expect(a.exhaustionCapacityQps).toBeCloseTo(28232 / 60, 9)
  })

  it('a client behind a 6.1 NAT that closes first: the NAT runs out (8.3/s) before its ports (16.7/s)', () => {
    // NAT pool 50000-50999, conntrack 120 s: 1000/120 = 8.33/s before SYNs are dropped; this
    // host's 1,000 ports held 60 s: 16.67/s. The safe rate is the lower.
    const f = makeFlow({role: 'client', closes_first: 'client', qps: 5, nat: nat({port_range: [50000, 50999], port_mode: 'random', kernel: '6.1.0'})})
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    const s = predictFlow(h, f).safe_qps!
    expect(s).toBeLessThanOrEqual(1000 / 120)
    expect(s).toBeGreaterThanOrEqual((1000 / 120) * (1 - 2e-6))
    // A 6.1 NAT for a server: the same edge is its safe rate.
    const n = predictFlow(host({}, '6.1.0'), makeFlow({role: 'nat', closes_first: 'server', qps: 5, nat: nat({port_range: [50000, 50999], port_mode: 'random'})})).safe_qps!
    expect(n).toBeLessThanOrEqual(1000 / 120)
    expect(n).toBeGreaterThanOrEqual((1000 / 120) * (1 - 2e-6))
  })

  it('a random NAT under tcp_max_tw_buckets=20 over 2 endpoints: at most 20 of the 2 × 1,000 tuples in TIME_WAIT', () => {
    // 240/s over 2 endpoints: 120/s each into 1,000 ports (test/model/harm.test.ts): c ≈ 1, capped
    // at 20 / 2000 = 1 %: x = 1/2 · 0.01, rejected x / (1 + x), stall its square.
    const a = assess(host({'net.ipv4.tcp_max_tw_buckets': '20'}), server({qps: 240, server_endpoints: 2, nat: nat({port_range: [40000, 40999], port_mode: 'fully-random'})}))
    const x = 0.5 * 0.01
    expect(a.collisionShare).toBeCloseTo(0.01, 12)
    expect(a.rejectShare).toBeCloseTo(x / (1 + x), 12)
  })

  it('withOverflowShare: the host with the overflow share set', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    const capped = withOverflowShare(h, 0.5)
    expect(capped.twOverflowShare).toBe(0.5)
    expect(capped.portRange).toEqual([40000, 40999])
    // Ports held 30 s on average: 1000/30 = 33.3/s.
    expect(assess(capped, makeFlow({role: 'client', closes_first: 'client', qps: 10})).exhaustionCapacityQps).toBeCloseTo(1000 / 30, 9)
  })
})
