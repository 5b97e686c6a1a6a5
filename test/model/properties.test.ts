import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import type {Facts} from '../../src/facts/types.js'
import {hostParams, type HostParams} from '../../src/model/host.js'
import {modelFlow, runModel} from '../../src/model/flow.js'
import {portSelection} from '../../src/model/ports.js'
import type {FlowModel} from '../../src/model/types.js'
import type {Flow} from '../../src/topology/types.js'
import {makeFlow, type TestFlow} from '../flow.js'

// ---------------------------------------------------------------------------------------------
// Helpers: facts as a source would produce them, so hostParams() is exercised as in production.

function facts(sysctls: Record<string, string>, kernel = '6.18.44'): Facts {
  return {source: 'test', kernel: parseKernel(kernel), sysctls: {'kernel.osrelease': kernel, ...sysctls}, counters: {}}
}

function host(sysctls: Record<string, string> = {}, kernel = '6.18.44'): HostParams {
  return hostParams(facts({'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_timestamps': '1', ...sysctls}, kernel))
}

function flow(f: TestFlow = {}): Flow {
  return makeFlow({peer: '10.0.1.10:80', ...f})
}

/** safeQps with null read as "no limit". */
const cap = (m: FlowModel): number => m.safeQps ?? Infinity
// The safe rate is found by bisection on a stall share built from several mechanisms (port
// selection by parity, NAT regimes, recovery); monotonicity is asserted to 0.1 %, the model's
// resolution, not to the last bit of a bisection.
const atLeast = (a: number, b: number): boolean => a >= b * (1 - 1e-3)

// ---------------------------------------------------------------------------------------------
// Arbitraries. Ranges stay inside what the topology loader and the kernel accept.

const KERNELS = ['3.10.0', '4.1.52', '4.6.7', '4.9.337', '5.4.0', '5.15.0', '5.18.0', '6.1.0', '6.5.0', '6.8.0', '6.18.44']

const portRangeArb = fc
  .tuple(fc.integer({min: 1024, max: 65000}), fc.integer({min: 0, max: 40000}))
  .map(([lo, width]): [number, number] => [lo, Math.min(65535, lo + width)])

const reservedArb = fc.array(
  fc.tuple(fc.integer({min: 1024, max: 65535}), fc.integer({min: 0, max: 3000})).map(([a, w]) => `${a}-${Math.min(65535, a + w)}`),
  {maxLength: 3},
)

interface HostSpec {
  kernel: string
  range: [number, number]
  reserved: string[]
  twReuse: '0' | '1' | '2'
  timestamps: '0' | '1'
  maxTwBuckets: number | null
  twReuseDelay: number | null
  vendorTw: number | null
}

const hostSpecArb: fc.Arbitrary<HostSpec> = fc.record({
  kernel: fc.constantFrom(...KERNELS),
  range: portRangeArb,
  reserved: reservedArb,
  twReuse: fc.constantFrom('0' as const, '1' as const, '2' as const),
  timestamps: fc.constantFrom('0' as const, '1' as const),
  // Half the hosts without the key: a small cap makes every client-side limit vanish, which
  // would otherwise hide most of the client-closes-first space from the properties.
  maxTwBuckets: fc.option(fc.integer({min: 1, max: 262144}), {nil: null, freq: 1}),
  twReuseDelay: fc.option(fc.integer({min: 1, max: 5000}), {nil: null}),
  vendorTw: fc.option(fc.integer({min: 1, max: 120}), {nil: null, freq: 3}),
})

function hostFrom(s: HostSpec): HostParams {
  const sysctls: Record<string, string> = {
    'net.ipv4.ip_local_port_range': `${s.range[0]} ${s.range[1]}`,
    'net.ipv4.ip_local_reserved_ports': s.reserved.join(','),
    'net.ipv4.tcp_tw_reuse': s.twReuse,
    'net.ipv4.tcp_timestamps': s.timestamps,
  }
  if (s.maxTwBuckets !== null) sysctls['net.ipv4.tcp_max_tw_buckets'] = String(s.maxTwBuckets)
  if (s.twReuseDelay !== null) sysctls['net.ipv4.tcp_tw_reuse_delay'] = String(s.twReuseDelay)
  if (s.vendorTw !== null) sysctls['net.ipv4.tcp_tw_timeout'] = String(s.vendorTw)
  return hostParams(facts(sysctls, s.kernel))
}

/** Rates spread evenly over orders of magnitude (0.01 to 200,000 conn/s), not bunched at the ends. */
const qpsArb = fc.noBias(fc.integer({min: -2000, max: 5300})).map((e) => 10 ** (e / 1000))

const flowArb: fc.Arbitrary<Flow> = fc
  .record({
    role: fc.constantFrom('client' as const, 'server' as const, 'nat' as const),
    closes_first: fc.constantFrom('server' as const, 'client' as const),
    qps: qpsArb,
    client_addresses: fc.integer({min: 1, max: 16}),
    extraSenders: fc.integer({min: 0, max: 16}),
    server_endpoints: fc.integer({min: 1, max: 8}),
    client_port_range: fc.option(portRangeArb, {nil: undefined}),
    nat: fc.option(fc.record({port_range: portRangeArb, conntrack_time_wait: fc.integer({min: 1, max: 300}), port_mode: fc.constantFrom('preserve' as const, 'random' as const, 'fully-random' as const)}), {nil: undefined}),
  })
  .map(({extraSenders, ...f}) => flow({...f, senders: f.client_addresses + extraSenders}))

const RUNS = {numRuns: 400}

// ---------------------------------------------------------------------------------------------

describe('model properties (fast-check)', () => {
  it('more qps never lowers the margin (every role, closer, NAT or not, kernel)', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, qpsArb, qpsArb, (hs, f, a, b) => {
        const h = hostFrom(hs)
        const low = modelFlow(h, {...f, qps: Math.min(a, b)})
        const high = modelFlow(h, {...f, qps: Math.max(a, b)})
        expect(Number.isNaN(low.margin)).toBe(false)
        expect(high.margin).toBeGreaterThanOrEqual(low.margin)
        // The stall share is what safe_qps bisects on: it must not fall as the rate grows.
        expect(high.stallShare).toBeGreaterThanOrEqual(low.stallShare - 1e-12)
      }),
      {numRuns: 5000},
    )
  })

  // flowArb leaves out what decides a NAT's regime and a rejection's cost (the NAT's kernel, its
  // port mode, the clients' timestamps and kernel), so this one sweeps them. It caught a NAT
  // before 6.5 whose conntrack_time_wait is below the server's 60 s: past the pool's capacity
  // the model took the tuples it still hands out as collision-free, and the stall share fell.
  it('behind a NAT the stall share never falls as qps rises (NAT kernels, timestamps, pool sizes, port modes)', () => {
    const poolArb = fc
      .tuple(fc.integer({min: 1024, max: 65000}), fc.constantFrom(0, 1, 3, 9, 99, 999, 9999, 64511))
      .map(([lo, w]): [number, number] => [lo, Math.min(65535, lo + w)])
    const natFlowArb = fc.record({
      role: fc.constantFrom('server' as const, 'nat' as const),
      client_addresses: fc.integer({min: 1, max: 4}),
      extraSenders: fc.integer({min: 0, max: 8}),
      server_endpoints: fc.integer({min: 1, max: 2}),
      pool: poolArb,
      // The senders' ports inside the pool (preserve keeps them), elsewhere, or the default range.
      senderRange: fc.constantFrom('inside' as const, 'outside' as const, 'default' as const),
      conntrack: fc.constantFrom(1, 10, 30, 59, 60, 61, 120, 300),
      port_mode: fc.constantFrom('preserve' as const, 'random' as const, 'fully-random' as const),
      natKernel: fc.constantFrom('3.10', '4.19', '6.1', '6.5', '6.18', undefined),
      client_timestamps: fc.constantFrom(0 as const, 1 as const, 2 as const, undefined),
      client_kernel: fc.constantFrom('3.10', '4.10', '5.4', '6.18.44', undefined),
    })
    const serverHostArb = fc.record({
      kernel: fc.constantFrom('3.10.0', '5.4.0', '6.1.0', '6.18.44'),
      timestamps: fc.constantFrom('0', '1'),
      rfc1337: fc.constantFrom('0', '1'),
    })
    fc.assert(
      fc.property(serverHostArb, natFlowArb, qpsArb, qpsArb, (hs, g, a, b) => {
        const h = host({'net.ipv4.tcp_timestamps': hs.timestamps, 'net.ipv4.tcp_rfc1337': hs.rfc1337}, hs.kernel)
        const width = g.pool[1] - g.pool[0]
        const client_port_range: [number, number] | undefined =
          g.senderRange === 'inside' ? [g.pool[0], g.pool[0] + Math.floor(width / 2)] : g.senderRange === 'outside' ? (g.pool[0] > 2048 ? [1024, 2047] : [64000, 65535]) : undefined
        const f = flow({
          role: g.role,
          closes_first: 'server',
          client_addresses: g.client_addresses,
          senders: g.client_addresses + g.extraSenders,
          server_endpoints: g.server_endpoints,
          ...(client_port_range ? {client_port_range} : {}),
          ...(g.client_timestamps !== undefined ? {client_timestamps: g.client_timestamps} : {}),
          ...(g.client_kernel ? {client_kernel: g.client_kernel} : {}),
          nat: {port_range: g.pool, conntrack_time_wait: g.conntrack, port_mode: g.port_mode, ...(g.natKernel ? {kernel: g.natKernel} : {})},
        })
        const low = modelFlow(h, {...f, qps: Math.min(a, b)})
        const high = modelFlow(h, {...f, qps: Math.max(a, b)})
        expect(high.stallShare, `${low.stallShare} at ${Math.min(a, b)}/s, ${high.stallShare} at ${Math.max(a, b)}/s`).toBeGreaterThanOrEqual(low.stallShare - 1e-9)
      }),
      {numRuns: 5000},
    )
  })

  it('more client_addresses never lowers safeQps (null = no limit)', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, fc.integer({min: 1, max: 16}), (hs, f, more) => {
        const h = hostFrom(hs)
        // senders stays at least client_addresses, as the loader requires.
        const before = modelFlow(h, {...f, senders: f.senders + more})
        const after = modelFlow(h, {...f, senders: f.senders + more, client_addresses: f.client_addresses + more})
        expect(atLeast(cap(after), cap(before)), `${cap(after)} < ${cap(before)}`).toBe(true)
      }),
      RUNS,
    )
  })

  it('more server_endpoints never lowers safeQps', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, fc.integer({min: 1, max: 16}), (hs, f, more) => {
        const h = hostFrom(hs)
        expect(atLeast(cap(modelFlow(h, {...f, server_endpoints: f.server_endpoints + more})), cap(modelFlow(h, f)))).toBe(true)
      }),
      RUNS,
    )
  })

  // Widening keeps the low end's parity (lower it by an even number, raise the high end freely):
  // connect() uses the low end's parity first, so flipping it with reserved ports in play is a
  // different range, not a wider one.
  const widenArb = fc.tuple(fc.integer({min: 0, max: 5000}), fc.integer({min: 0, max: 10000}))
  const widen = (r: [number, number], [down, up]: [number, number]): [number, number] => {
    let lo = r[0] - 2 * down
    while (lo < 1024) lo += 2
    return [Math.min(lo, r[0]), Math.min(65535, r[1] + up)]
  }

  // Behind a port-preserving NAT a wider sender range is a different regime, not a wider one, so
  // these two properties leave it out. nf_nat_core.c keeps a sender's port only inside the pool
  // (when the tuple is free): ports past the pool are remapped onto pool ports the same sender
  // used from OTHER source ports (pinned below). Inside the pool, the remapped SYNs land on the
  // pool's holes (pool ports no sender uses): a sender range that grows toward the pool leaves
  // fewer holes, so the few remapped SYNs come back to the same tuples sooner (src/model/nat.ts).
  const stillPreserved = (f: Flow): boolean => f.nat?.port_mode !== 'preserve'

  it("a wider ip_local_port_range on this host never lowers safeQps (this host's own ports)", () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, widenArb, (hs, f, w) => {
        fc.pre(stillPreserved(f))
        const narrow = modelFlow(hostFrom(hs), f)
        const wide = modelFlow(hostFrom({...hs, range: widen(hs.range, w)}), f)
        expect(atLeast(cap(wide), cap(narrow)), `${cap(wide)} < ${cap(narrow)}`).toBe(true)
      }),
      RUNS,
    )
  })

  it("a wider declared client_port_range never lowers safeQps (the clients' ports)", () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, portRangeArb, widenArb, (hs, f, r, w) => {
        fc.pre(stillPreserved(f))
        const h = hostFrom(hs)
        const narrow = modelFlow(h, {...f, client_port_range: r})
        const wide = modelFlow(h, {...f, client_port_range: widen(r, w)})
        expect(atLeast(cap(wide), cap(narrow)), `${cap(wide)} < ${cap(narrow)}`).toBe(true)
      }),
      RUNS,
    )
  })

  it('a wider NAT pool never lowers safeQps', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, portRangeArb, fc.integer({min: 1, max: 300}), widenArb, (hs, f, pool, ct, w) => {
        const h = hostFrom(hs)
        // A preserve pool that grows over the senders' ports changes regime (remapped -> kept),
        // pinned on its own below; inside one regime a wider pool must not hurt.
        const senders = f.role === 'client' ? h.portRange : (f.client_port_range ?? [32768, 60999])
        const holds = (p: [number, number]) => senders[0] >= p[0] && senders[1] <= p[1]
        fc.pre((f.nat?.port_mode ?? 'preserve') !== 'preserve' || holds(pool) === holds(widen(pool, w)))
        const narrow = modelFlow(h, {...f, nat: {...f.nat, port_range: pool, conntrack_time_wait: ct, port_mode: f.nat?.port_mode ?? 'preserve'}})
        const wide = modelFlow(h, {...f, nat: {...f.nat, port_range: widen(pool, w), conntrack_time_wait: ct, port_mode: f.nat?.port_mode ?? 'preserve'}})
        expect(atLeast(cap(wide), cap(narrow)), `${cap(wide)} < ${cap(narrow)}`).toBe(true)
      }),
      RUNS,
    )
  })

  it('every share is in [0, 1], and margin is never negative or NaN', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, (hs, f) => {
        const m = modelFlow(hostFrom(hs), f)
        for (const v of [m.stallShare, m.rejectShare, m.resetShare, m.timeoutShare, m.twStallShare, m.natDropShare, m.exhaustionShare]) {
          expect(v).toBeGreaterThanOrEqual(0)
          expect(v).toBeLessThanOrEqual(1)
        }
        expect(m.stallShare).toBeGreaterThanOrEqual(m.twStallShare - 1e-12)
        expect(m.collisionShare).toBeGreaterThanOrEqual(0)
        expect(m.collisionShare).toBeLessThanOrEqual(1)
        expect(m.margin).toBeGreaterThanOrEqual(0)
        expect(Number.isNaN(m.margin)).toBe(false)
      }),
      RUNS,
    )
  })

  it('a harmful collision needs shared addresses: one sender connecting directly never stalls on TIME_WAIT', () => {
    fc.assert(
      fc.property(hostSpecArb, flowArb, (hs, f) => {
        const m = modelFlow(hostFrom(hs), {...f, senders: f.client_addresses, nat: undefined})
        expect(m.twStallShare).toBe(0)
        expect(m.crossSenderHarm).toBe(false)
      }),
      RUNS,
    )
  })

  it('usable ports never exceed the range size and reserved ports are never counted twice', () => {
    fc.assert(
      fc.property(hostSpecArb, (hs) => {
        const m = modelFlow(hostFrom(hs), flow({role: 'client', closes_first: 'client'}))
        const size = hs.range[1] - hs.range[0] + 1
        expect(m.usablePorts).toBeLessThanOrEqual(size)
        expect(m.usablePorts).toBeGreaterThanOrEqual(0)
        expect(m.usablePorts + m.reservedPortsInRange).toBe(size)
        expect(m.firstParityPorts).toBeLessThanOrEqual(Math.ceil(size / 2))
      }),
      RUNS,
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('exact figures from KERNEL.md', () => {
  it('server closes first, direct client at 100/s on the default range, 6.x: 1 − exp(−60·100/14116) ≈ 35 % collide', () => {
    const m = modelFlow(host(), flow({role: 'client', closes_first: 'server', qps: 100}))
    expect(m.portSelection).toBe('parity-random')
    expect(m.usablePorts).toBe(28232)
    expect(m.firstParityPorts).toBe(14116)
    expect(m.reuseIntervalConnects).toBe(14116)
    expect(m.collisionShare).toBeCloseTo(1 - Math.exp((-60 * 100) / 14116), 12)
    expect(Math.round(m.collisionShare * 100)).toBe(35)
    // One Linux client connecting directly: the server accepts the SYN (ISN/timestamp), no harm.
    expect(m.benignCollisions).toBe(true)
    expect(m.harmful).toBe(false)
    expect(m.safeQps).toBeNull()
    expect(m.margin).toBe(0)
  })

  it('the same flow from 4 senders behind 1 address is harmful: the stall share is worked out from the collision share', () => {
    const m = modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 100, senders: 4}))
    // c = 1 − exp(−6000/14116) = 0.34628; unrelated = 3/4; x = 3/4 · 1/2 · c = 0.129855;
    // rejected (RST clears) = x / (1 + x) = 0.114932; with PAWS the resend is judged afresh: stall = rejected².
    const c = 1 - Math.exp(-6000 / 14116)
    const x = 0.75 * 0.5 * c
    const r = x / (1 + x)
    expect(m.collisionShare).toBeCloseTo(c, 12)
    expect(m.rejectShare).toBeCloseTo(r, 12)
    expect(m.stallShare).toBeCloseTo(r * r, 12)
    expect(m.harmful).toBe(true)
    expect(m.mechanism).toBe('server-tw-reject')
    // The safe rate is where the stall share meets the budget: r = √0.001, x = r / (1 − r),
    // c = x / (3/8), qps = −ln(1 − c) · 14116 / 60.
    const rb = Math.sqrt(0.001)
    const cb = rb / (1 - rb) / 0.375
    expect(m.safeQps!).toBeCloseTo((-Math.log(1 - cb) * 14116) / 60, 3)
  })

  it('client closes first on a 1000-port range: 1000 connects succeed, then EADDRNOTAVAIL; safe rate 1000/60', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 500}))
    expect(m.usablePorts).toBe(1000)
    expect(m.portExhaustion).toBe(true)
    expect(m.connectsBeforeFailure).toBe(1000)
    // EADDRNOTAVAIL for 1 − (1000/60)/qps of connects; a hard limit: the safe rate is the capacity.
    expect(m.exhaustionShare).toBeCloseTo(1 - 1000 / 60 / 500, 12)
    expect(m.stallShare).toBeCloseTo(1 - 1000 / 60 / 500, 12)
    expect(m.safeQps).toBeCloseTo(1000 / 60, 12)
    expect(m.margin).toBeCloseTo(500 / (1000 / 60), 12)
    // From (R/2)/60 s every connect() scans the first-parity ports first.
    expect(m.scanQps).toBeCloseTo(500 / 60, 12)
    expect(m.timeWaitOnThisHost).toBe(true)
    expect(m.timeWaitTuples).toBe(500 * 60)
  })

  it('client closes first below the limit: no exhaustion and no connectsBeforeFailure', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 16}))
    expect(m.portExhaustion).toBe(false)
    expect(m.connectsBeforeFailure).toBeNull()
    expect(m.margin).toBeCloseTo(16 / (1000 / 60), 12)
  })

  it('the client limit is per tuple space: 3 client addresses × 2 server endpoints = 6 × 1000/60', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 50, client_addresses: 3, senders: 3, server_endpoints: 2}))
    expect(m.tupleSpaces).toBe(6)
    expect(m.safeQps).toBeCloseTo(6000 / 60, 12)
    expect(m.portExhaustion).toBe(false)
  })

  it('tcp_tw_reuse=1 with timestamps raises the client safe rate to ports / 1 s (tcp_tw_reuse_delay 1000 ms)', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_tw_reuse_delay': '1000'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 500}))
    expect(m.twReuseEffective).toBe(true)
    expect(m.safeQps).toBe(1000)
    expect(m.portExhaustion).toBe(false)
    expect(m.scanQps).toBeNull()
  })

  it('tcp_tw_reuse=1 before 6.14 (whole seconds, no tcp_tw_reuse_delay) holds a port up to 2 s: half the 6.14+ rate', () => {
    const old = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '1'}, '5.15.0')
    expect(old.twReuseDelaySource).toBe('whole-seconds')
    expect(modelFlow(old, flow({role: 'client', closes_first: 'client', qps: 500})).safeQps).toBe(500)
    const current = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '1'}, '6.14.0')
    expect(modelFlow(current, flow({role: 'client', closes_first: 'client', qps: 500})).safeQps).toBe(1000)
  })

  it('tcp_tw_reuse_delay = 250 ms scales the client safe rate to ports / 0.25 s', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_tw_reuse_delay': '250'})
    expect(modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 500})).safeQps).toBe(4000)
  })

  it('tcp_tw_reuse=1 without timestamps does not help: back to ports / 60 s', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '0'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 500}))
    expect(m.twReuseEffective).toBe(false)
    expect(m.safeQps).toBeCloseTo(1000 / 60, 12)
  })

  it('tcp_tw_reuse=2 (loopback only, the default) does not help an outgoing flow to another host', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': '2'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 500}))
    expect(m.twReuseEffective).toBe(false)
    expect(m.portExhaustion).toBe(true)
  })

  it('tcp_tw_reuse=1 on the server cannot help the server side (it only applies to outgoing connections)', () => {
    const h = host({'net.ipv4.tcp_tw_reuse': '1'})
    const m = modelFlow(h, flow({role: 'server', closes_first: 'server', qps: 100, senders: 4}))
    expect(m.twReuseEffective).toBe(false)
    expect(m.harmful).toBe(true)
  })

  it('kernel 4.1 picks ports sequentially: a port returns after the whole range (28,232 connects)', () => {
    expect(portSelection(parseKernel('4.1.52'))).toEqual({selection: 'sequential', assumed: false})
    const m = modelFlow(host({}, '4.1.52'), flow({role: 'client', closes_first: 'server', qps: 100}))
    expect(m.portSelection).toBe('sequential')
    expect(m.reuseIntervalConnects).toBe(28232)
    // Exactly every 28,232 connects: 282 s at 100/s, past the 60 s TIME_WAIT, so no collision.
    expect(m.collisionShare).toBe(0)
    // At 500/s the gap is 56.5 s < 60 s: every connect lands on a tuple in TIME_WAIT.
    expect(modelFlow(host({}, '4.1.52'), flow({role: 'client', closes_first: 'server', qps: 500})).collisionShare).toBe(1)
  })

  it('kernel 4.6 uses the two-pass parity selection: a port returns after the 14,116 even ports', () => {
    expect(portSelection(parseKernel('4.6.7'))).toEqual({selection: 'parity', assumed: false})
    const m = modelFlow(host({}, '4.6.7'), flow({role: 'client', closes_first: 'server', qps: 100}))
    expect(m.portSelection).toBe('parity')
    expect(m.reuseIntervalConnects).toBe(14116)
    // 141 s between reuses at 100/s: none while TIME_WAIT lasts 60 s; at 300/s, 47 s: all of them.
    expect(m.collisionShare).toBe(0)
    expect(modelFlow(host({}, '4.6.7'), flow({role: 'client', closes_first: 'server', qps: 300})).collisionShare).toBe(1)
  })

  it('kernel 6.x uses parity with the random advance (5.18+), not assumed', () => {
    expect(portSelection(parseKernel('6.18.44'))).toEqual({selection: 'parity-random', assumed: false})
    expect(portSelection(parseKernel('5.18.0'))).toEqual({selection: 'parity-random', assumed: false})
    // 4.9–5.17: the random advance depends on the 2022 LTS backport, so it is an assumption.
    expect(portSelection(parseKernel('5.15.0'))).toEqual({selection: 'parity-random', assumed: true})
    expect(portSelection(null)).toEqual({selection: 'parity-random', assumed: true})
  })

  it('reserved ports reduce usable ports exactly (merged, clipped to the range, parity counted)', () => {
    const h = host({'net.ipv4.ip_local_reserved_ports': '40000-40999,50000,1000-2000,40500-41499'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 1}))
    // 40000-41499 merged = 1,500 ports (750 even), 50000 = 1 even port, 1000-2000 outside the range.
    expect(m.reservedPortsInRange).toBe(1501)
    expect(m.usablePorts).toBe(28232 - 1501)
    expect(m.firstParityPorts).toBe(14116 - 751)
    expect(m.safeQps).toBeCloseTo((28232 - 1501) / 60, 9)
  })

  it('a reserved list covering the whole range leaves 0 usable ports and an infinite margin', () => {
    const h = host({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.ip_local_reserved_ports': '39000-42000'})
    const m = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 1}))
    expect(m.usablePorts).toBe(0)
    expect(m.safeQps).toBe(0)
    expect(m.margin).toBe(Infinity)
  })

  it('a port-preserving NAT: senders inside its pool keep their ports, a range past it is remapped', () => {
    // Pool 40000-40999 (1000 ports), conntrack TIME_WAIT 120 s, one sender.
    const f = flow({role: 'client', qps: 50, closes_first: 'server', nat: {port_range: [40000, 40999], port_mode: 'preserve'}})
    // The host's range inside the pool: every port is kept, the server sees the sender's own
    // tuples, accepted by ISN/timestamp order: no limit.
    expect(modelFlow(host({'net.ipv4.ip_local_port_range': '40000 40999'}), f).safeQps).toBeNull()
    // The default range 32768-60999 is mostly outside the pool: those SYNs are remapped onto pool
    // ports. A remapped tuple is free again once its conntrack entry expires, 120 s after close,
    // so up to 1000 / 120 = 8.33 connects/s no tuple comes back inside the server's 60 s; past
    // that the pool must hand out tuples the server may still hold for another source port.
    const wide = modelFlow(host({'net.ipv4.ip_local_port_range': '32768 60999'}), f)
    expect(wide.safeQps).toBeCloseTo(1000 / 120, 3)
  })

  it('behind SNAT without eviction the pool sustains pool / 120 s per destination', () => {
    const m = modelFlow(host({}, '6.1.0'), flow({role: 'nat', closes_first: 'server', qps: 100, senders: 8, nat: {port_range: [32768, 60999], conntrack_time_wait: 120}}))
    expect(m.natPoolPorts).toBe(28232)
    expect(m.natCapacityQps).toBeCloseTo(28232 / 120, 12)
    // A 6.1 NAT cannot evict: over capacity its SYNs are dropped.
    expect(m.natExhausted).toBe(false)
    const over = modelFlow(host({}, '6.1.0'), flow({role: 'nat', closes_first: 'server', qps: 600, senders: 8, nat: {port_range: [32768, 60999], conntrack_time_wait: 120}}))
    expect(over.natExhausted).toBe(true)
  })

  it('the incident: 600/s through one SNAT address that remaps every port, a 5.15 server with tcp_rfc1337=1', () => {
    const nat = {port_range: [32768, 60999] as [number, number], conntrack_time_wait: 120, port_mode: 'fully-random' as const}
    const m = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}, '5.15.0'), flow({role: 'server', closes_first: 'server', qps: 600, senders: 8, nat}))
    // 600/s > 28232/120 = 235/s: the pool is recycled (6.5+ NAT assumed), a tuple every 28232/600 = 47 s.
    expect(m.natRegime).toBe('evicting')
    expect(m.natReuseSeconds).toBeCloseTo(28232 / 600, 9)
    const c = 1 - Math.exp(-60 / (28232 / 600))
    expect(m.collisionShare).toBeCloseTo(c, 12)
    // 5.15 clients: offsets per host pair, so only the 7 other senders of 8 are unrelated.
    expect(m.unrelatedShare).toBeCloseTo(7 / 8, 12)
    // rfc1337=1: nothing clears, rejected = 7/16 · c; the entry stays, the resend is judged afresh.
    const r = (7 / 16) * c
    expect(m.rejectShare).toBeCloseTo(r, 12)
    expect(m.stallShare).toBeGreaterThan(r * r)
    expect(m.stallShare).toBeLessThan(r * r * 1.1)
    expect(m.mechanism).toBe('rfc1337-stuck')
    expect(m.rfc1337Harm).toBe(true)
    expect(m.crossSenderHarm).toBe(true)
    // Below 235/s the pool has free tuples that conntrack held 120 s: no collision, no limit below it.
    expect(m.safeQps!).toBeCloseTo(28232 / 120, 3)
    expect(m.timeWaitTuples).toBe(36000)
  })

  it('the host model sums TIME_WAIT tuples on this host and flags tcp_max_tw_buckets overflow', () => {
    const h = host({'net.ipv4.tcp_max_tw_buckets': '20000'})
    const r = runModel(h, [
      flow({name: 'a', role: 'server', closes_first: 'server', qps: 200}),
      flow({name: 'b', role: 'client', closes_first: 'client', qps: 200}),
      // the peer closes: its TIME_WAIT is not on this host
      flow({name: 'c', role: 'client', closes_first: 'server', qps: 1000}),
    ])
    expect(r.host.timeWaitTuples).toBe(200 * 60 + 200 * 60)
    expect(r.host.twOverflow).toBe(true)
    expect(r.flows.map((f) => f.timeWaitOnThisHost)).toEqual([true, true, false])
  })

  it('a vendor tcp_tw_timeout shortens TIME_WAIT on this host only', () => {
    const h = host({'net.ipv4.tcp_tw_timeout': '10', 'net.ipv4.ip_local_port_range': '40000 40999'})
    expect(h.timeWaitSeconds).toBe(10)
    const own = modelFlow(h, flow({role: 'client', closes_first: 'client', qps: 50}))
    expect(own.timeWaitSeconds).toBe(10)
    expect(own.safeQps).toBeCloseTo(1000 / 10, 12)
    // The peer closes first: the peer's TIME_WAIT is mainline 60 s.
    expect(modelFlow(h, flow({role: 'client', closes_first: 'server', qps: 50})).timeWaitSeconds).toBe(60)
  })

  it('a NAT pool with free tuples is harmless (conntrack holds a tuple 120 s > 60 s); a recycled one is harmful', () => {
    const nat = {port_range: [32768, 60999] as [number, number], conntrack_time_wait: 120, port_mode: 'random' as const}
    // 200/s < 28,232 / 120 = 235/s: every tuple handed out was released 120 s ago at least.
    const free = modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 200, senders: 8, nat}))
    expect(free.natRegime).toBe('free')
    expect(free.collisionShare).toBe(0)
    expect(free.harmful).toBe(false)
    // 500/s: recycled every 56.5 s on average; 1 − exp(−60/56.5) of SYNs meet TIME_WAIT.
    const fast = modelFlow(host(), flow({role: 'server', closes_first: 'server', qps: 500, senders: 8, nat}))
    expect(fast.natReuseSeconds).toBeCloseTo(28232 / 500, 9)
    expect(fast.collisionShare).toBeCloseTo(1 - Math.exp((-60 * 500) / 28232), 12)
    expect(fast.harmful).toBe(true)
  })

  it("the topology's kernel: overrides the detected version for what-if runs", () => {
    const h = hostParams(facts({'net.ipv4.ip_local_port_range': '32768 60999'}, '6.18.44'), '4.1')
    expect(h.kernel).toMatchObject({major: 4, minor: 1})
    expect(h.kernelOverridden).toBe(true)
    expect(modelFlow(h, flow({role: 'client', closes_first: 'server'})).portSelection).toBe('sequential')
  })

  it('a dump without ip_local_port_range falls back to the 4.2+ default 32768–60999', () => {
    const h = hostParams({source: 't', kernel: null, sysctls: {}, counters: {}})
    expect(h.portRange).toEqual([32768, 60999])
    expect(h.portRangeDeclared).toBe(false)
  })
})
