import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hasFastSynResend, natEvictsClosing, pawsTimewaitCounter, tsOffsetScheme} from '../../src/model/gates.js'
import {identity, unrelatedShare} from '../../src/model/identity.js'
import {HARM_BUDGET, predictFlow} from '../../src/model/index.js'
import {modelFlow} from '../../src/model/flow.js'
import {preserveHoles, remapPool} from '../../src/model/nat.js'
import {rejectedShare} from '../../src/model/server.js'
import type {Flow, NatSpec} from '../../src/topology/types.js'
import {host} from './hosts.js'
import {makeFlow} from '../flow.js'

// The harm model's figures, worked out by hand in the comments. The scenarios are the lab's
// fidelity matrix on a 6.18 kernel: the lab asserts that these predictions agree with what it
// measures (within a factor 2 of its 95 % interval).


const nat = (over: Partial<NatSpec> = {}): NatSpec => ({port_range: [40000, 40999], conntrack_time_wait: 120, port_mode: 'preserve', ...over})
const server = (over: Partial<Flow>): Flow => makeFlow({role: 'server', closes_first: 'server', ...over})

describe('gates: kernel versions behind each fact', () => {
  it('timestamp offsets: none < 4.10, per connection 4.10, per host pair 4.11+, per 4-tuple from 7.0 and the backports', () => {
    const k = (v: string) => tsOffsetScheme(parseKernel(v))
    expect(k('4.9.0')).toBe('none')
    expect(k('4.10.3')).toBe('per-connection')
    expect(k('4.11.0')).toBe('per-host-pair')
    expect(k('6.12.93')).toBe('per-host-pair')
    expect(k('6.12.94')).toBe('per-4-tuple')
    expect(k('6.18.16')).toBe('per-host-pair')
    expect(k('6.18.17')).toBe('per-4-tuple')
    expect(k('6.19.7')).toBe('per-4-tuple')
    expect(k('6.15.0')).toBe('per-host-pair')
    expect(k('7.0.0')).toBe('per-4-tuple')
    expect(tsOffsetScheme(null)).toBe('per-4-tuple')
  })

  it('SYN resend after a stale ACK from 5.6; NAT eviction from 6.5; PAWSTimewait counter from 6.16', () => {
    expect(hasFastSynResend(parseKernel('5.5.0'))).toBe(false)
    expect(hasFastSynResend(parseKernel('5.6.0'))).toBe(true)
    expect(natEvictsClosing(parseKernel('6.1.0'))).toBe(false)
    expect(natEvictsClosing(parseKernel('6.5.0'))).toBe(true)
    expect(pawsTimewaitCounter(parseKernel('6.15.0'))).toBe('TcpExtPAWSEstab')
    expect(pawsTimewaitCounter(parseKernel('6.16.0'))).toBe('TcpExtPAWSTimewait')
  })
})

describe('identity: who looks unrelated to the last owner of a tuple', () => {
  it('a remapped sender is related only with port-independent timestamp offsets and timestamps on', () => {
    expect(identity(1, 1, 'per-host-pair').sameSenderRemapRelated).toBe(true)
    expect(identity(1, 1, 'per-4-tuple').sameSenderRemapRelated).toBe(false)
    // tcp_timestamps=2 on the client: no offset, the raw clock.
    expect(identity(1, 2, 'per-4-tuple').sameSenderRemapRelated).toBe(true)
    // Server without timestamps: the ISN decides, and it depends on the ports.
    expect(identity(0, 1, 'per-host-pair').sameSenderRemapRelated).toBe(false)
  })

  it('2 senders remapped: per host pair 1/2 unrelated, per 4-tuple all of them', () => {
    expect(unrelatedShare(identity(1, 1, 'per-host-pair'), 2, true)).toBe(0.5)
    expect(unrelatedShare(identity(1, 1, 'per-4-tuple'), 2, true)).toBe(1)
    // One sender on its own tuple: related.
    expect(unrelatedShare(identity(1, 1, 'per-4-tuple'), 1, false)).toBe(0)
  })
})

describe('server and NAT arithmetic', () => {
  it('rejected share: a saturated pool of unrelated senders rejects 1/3 with RSTs clearing, 1/2 without', () => {
    expect(rejectedShare(1, 1, true)).toBeCloseTo(1 / 3, 12)
    expect(rejectedShare(1, 1, false)).toBe(0.5)
  })

  it('remap pool regimes: free below pool / 120 s, evicting above on 6.5+, dropping above before', () => {
    expect(remapPool(1000, 8, 120, 60, true)).toMatchObject({regime: 'free', collisionShare: 0, dropShare: 0})
    const ev = remapPool(1000, 120, 120, 60, true)
    expect(ev.regime).toBe('evicting')
    expect(ev.collisionShare).toBeCloseTo(1 - Math.exp(-7.2), 12)
    const ex = remapPool(1000, 120, 120, 60, false)
    expect(ex.regime).toBe('exhausted')
    // 1000/120 = 8.33/s find a tuple: 1 − 8.33/120 = 93.1 % dropped.
    expect(ex.dropShare).toBeCloseTo(1 - 1000 / 120 / 120, 12)
  })

  it('holes: 2 senders on the same 500 first-parity ports at 400/s through a preserve NAT without a range', () => {
    const h = preserveHoles({qps: 400, senders: 2, senderPorts: 500, poolPorts: 64512, conntrackSeconds: 120, timeWaitSeconds: 60, evicts: true})
    // Each sender reuses a port every 500 / 200 = 2.5 s; half its connects are remapped;
    // holes = 400 · 1/2 · (60 − 2.5) = 11,500 among 64,512 − 500 free tuples.
    expect(h.ownReuseSeconds).toBe(2.5)
    expect(h.remapShare).toBe(0.5)
    expect(h.holes).toBe(11500)
    expect(h.holeShare).toBeCloseTo(11500 / 64012, 12)
  })
})

describe('predicted stall share for the lab scenarios (6.18 server and clients)', () => {
  it('direct client, one sender: collisions are accepted, no stall', () => {
    const p = predictFlow(host(), server({qps: 400, client_port_range: [40000, 40999]}))
    expect(p.collision_share).toBeGreaterThan(0.9)
    expect(p.stall_share).toBe(0)
    expect(p.mechanism).toBe('none')
    expect(p.safe_qps).toBeNull()
  })

  it('NAT remap, 2 senders, timestamps on: rejected 1/3, stall (1/3)² ≈ 11.1 %', () => {
    const p = predictFlow(host(), server({qps: 125, senders: 2, nat: nat({port_mode: 'random'})}))
    // c = 1 − exp(−60·125/1000) = 0.99945; x = c/2; r = x/(1+x) = 0.33321; stall = r².
    const c = 1 - Math.exp(-7.5)
    const r = c / 2 / (1 + c / 2)
    expect(p.reject_share).toBeCloseTo(r, 12)
    expect(p.stall_share).toBeCloseTo(r * r, 12)
    expect(p.mechanism).toBe('server-tw-reject')
    expect(p.harmful).toBe(true)
  })

  it('the same with tcp_rfc1337=1: nothing clears, rejected 1/2, stall ≈ 25 % plus rate-limited ACKs', () => {
    const p = predictFlow(host({'net.ipv4.tcp_rfc1337': '1'}), server({qps: 125, senders: 2, nat: nat({port_mode: 'random'})}))
    const c = 1 - Math.exp(-7.5)
    const r = c / 2
    expect(p.reject_share).toBeCloseTo(r, 12)
    // Rejected SYNs per tuple: 125 · r / 1000 per second; the ACK is suppressed within 0.5 s.
    const rl = 1 - Math.exp(-0.5 * ((125 * r) / 1000))
    expect(p.stall_share).toBeCloseTo(r * (1 - (1 - r) * (1 - rl)), 12)
    expect(p.mechanism).toBe('rfc1337-stuck')
  })

  it('"Why" flow 1: NAT remap every 8 s, server tcp_timestamps=0: rejections recover in ms, harmless', () => {
    const p = predictFlow(host({'net.ipv4.tcp_timestamps': '0'}), server({qps: 125, senders: 2, nat: nat({port_mode: 'random'})}))
    expect(p.reject_share).toBeGreaterThan(0.3)
    expect(p.stall_share).toBe(0)
    expect(p.stall_share).toBeLessThan(HARM_BUDGET)
    expect(p.mechanism).toBe('fast-resend')
  })

  it('"Why" flow 2: 2 senders on one shared 1,000-port range, preserve NAT, tcp_rfc1337=1, 100/s: harmless', () => {
    const p = predictFlow(host({'net.ipv4.tcp_rfc1337': '1'}), server({qps: 100, senders: 2, client_port_range: [40000, 40999], nat: nat({port_range: [1024, 65535]})}))
    // Own reuse every 500/50 = 10 s; holes = 100 · 1/2 · 50 = 2,500 of 64,012 free tuples;
    // a remapped SYN is rejected with 2500/64012 · 1/2 = 1.95 %, and half the connects are
    // remapped: rejected = 0.976 %. The resend of a rejected one is remapped afresh (conntrack
    // reopens after the RST), so it is rejected 1.95 % of the time: stall ≈ 0.976 % · 1.95 % ≈ 0.019 %.
    const rr = (2500 / 64012) * 0.5
    const r = 0.5 * rr
    expect(p.reject_share).toBeCloseTo(r, 9)
    expect(p.stall_share).toBeGreaterThan(r * rr)
    expect(p.stall_share).toBeLessThan(r * rr * 1.05)
    expect(p.harmful).toBe(false)
    // The other half keep their own port: each sender connects 100 / 2 = 50/s over its 500
    // first-parity ports, so 1 − exp(−60 · 50 / 500) = 1 − e^−6 of them meet their own TIME_WAIT
    // (accepted: same 4-tuple, same timestamp offset). Collisions = 1/2 · 2500/64012 + 1/2 · (1 − e^−6).
    expect(p.collision_share).toBeCloseTo(0.5 * (2500 / 64012) + 0.5 * (1 - Math.exp(-6)), 9)
  })

  it('holes at 400/s with tcp_rfc1337=0: rejected ≈ 4.3 %, stall ≈ 0.36 % (over the budget; lab: 0.34 %)', () => {
    const p = predictFlow(host(), server({qps: 400, senders: 2, client_port_range: [40000, 40999], nat: nat({port_range: [1024, 65535]})}))
    // Holes 200/s · (60 − 2.5) s = 11,500; a remapped SYN meets one with 11500/64012 and is
    // rejected half of those times, the RST clearing entries: y / (1 + y), y = 0.5 · 11500/64012.
    const y = 0.5 * (11500 / 64012)
    const rr = y / (1 + y)
    const x = 0.5 * y
    const r = x / (1 + x)
    expect(p.reject_share).toBeCloseTo(r, 9)
    // The resend is remapped afresh: rejected with rr, not with the average r.
    expect(p.stall_share).toBeCloseTo(r * rr, 9)
    expect(p.harmful).toBe(true)
  })

  it('one sender, fully-random NAT into 1,000 ports at 120/s: a 6.18 client looks unrelated to itself, ≈ 11.1 %', () => {
    const p = predictFlow(host(), server({qps: 120, nat: nat({port_mode: 'fully-random'})}))
    expect(p.stall_share).toBeCloseTo(1 / 9, 2)
    // A 6.6 client (offsets per host pair) sends newer timestamps from any port: accepted.
    expect(predictFlow(host(), server({qps: 120, client_kernel: '6.6.0', nat: nat({port_mode: 'fully-random'})})).stall_share).toBe(0)
  })

  it('the same through a 6.1 NAT: no eviction, SYNs dropped, 1 − (1000/120)/120 ≈ 93 % stall', () => {
    const p = predictFlow(host(), server({qps: 120, nat: nat({port_mode: 'fully-random', kernel: '6.1'})}))
    expect(p.stall_share).toBeCloseTo(1 - 1000 / 120 / 120, 12)
    expect(p.mechanism).toBe('nat-drop')
    expect(p.timeout_share).toBeCloseTo((1 - 1000 / 120 / 120) ** 7, 12)
  })

  it('tcp_max_tw_buckets=20 on the server: at most 2 % of the 1,000 tuples in TIME_WAIT, stall ≈ 0.0098 %', () => {
    const p = predictFlow(host({'net.ipv4.tcp_max_tw_buckets': '20'}), server({qps: 120, nat: nat({port_mode: 'fully-random'})}))
    const x = 0.5 * 0.02
    const r = x / (1 + x)
    expect(p.stall_share).toBeCloseTo(r * r, 12)
    expect(p.harmful).toBe(false)
    // The model's remedy value for the uncapped server is the largest cap within the budget.
    const m = modelFlow(host(), server({qps: 120, nat: nat({port_mode: 'fully-random'})}))
    expect(m.twBucketsForSafeReuse).not.toBeNull()
    const at = (b: number) => predictFlow(host({'net.ipv4.tcp_max_tw_buckets': String(b)}), server({qps: 120, nat: nat({port_mode: 'fully-random'})})).stall_share
    expect(at(m.twBucketsForSafeReuse!)).toBeLessThanOrEqual(HARM_BUDGET)
    expect(at(m.twBucketsForSafeReuse! + 1)).toBeGreaterThan(HARM_BUDGET)
  })

  it('client exhaustion on 1,000 ports at 200/s: tcp_tw_reuse=0 fails 91.7 %, =1 none, =2 none toward loopback', () => {
    const h = (reuse: string) => host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': reuse})
    const client = (peer: string) => makeFlow({role: 'client', closes_first: 'client', qps: 200, peer})
    expect(predictFlow(h('0'), client('198.18.0.2:80')).stall_share).toBeCloseTo(1 - 1000 / 60 / 200, 12)
    expect(predictFlow(h('0'), client('198.18.0.2:80')).mechanism).toBe('client-exhaustion')
    expect(predictFlow(h('1'), client('198.18.0.2:80')).stall_share).toBe(0)
    expect(predictFlow(h('2'), client('127.0.0.1:80')).stall_share).toBe(0)
    expect(predictFlow(h('2'), client('198.18.0.2:80')).stall_share).toBeCloseTo(1 - 1000 / 60 / 200, 12)
  })

  it('clients before 5.6 wait 1 s on every rejection: stall = rejected', () => {
    const p = predictFlow(host(), server({qps: 125, senders: 2, client_kernel: '5.4.0', nat: nat({port_mode: 'random'})}))
    expect(p.stall_share).toBeCloseTo(p.reject_share, 12)
  })

  it('harm_budget on the flow moves harmful and safe_qps; safe_qps is where the stall share meets it', () => {
    const f = server({qps: 400, senders: 2, client_port_range: [40000, 40999], nat: nat({port_range: [1024, 65535]})})
    const strict = predictFlow(host(), f)
    const loose = predictFlow(host(), {...f, harm_budget: 0.01})
    expect(strict.harmful).toBe(true)
    expect(loose.harmful).toBe(false)
    expect(loose.safe_qps!).toBeGreaterThan(strict.safe_qps!)
    const at = (q: number) => predictFlow(host(), {...f, qps: q}).stall_share
    expect(at(strict.safe_qps!)).toBeLessThanOrEqual(HARM_BUDGET)
    expect(at(strict.safe_qps! * 1.001)).toBeGreaterThan(HARM_BUDGET)
  })

  it('assumptions name what the topology did not say', () => {
    const p = predictFlow(host(), server({qps: 125, senders: 2, nat: nat({port_mode: 'random'})}))
    expect(p.assumptions.join(' | ')).toMatch(/NAT runs 6.5 or later/)
    expect(p.assumptions.join(' | ')).toMatch(/clients run this host's kernel/)
  })
})
