import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hasFastSynResend, natEvictsClosing, pawsTimewaitCounter, tsOffsetScheme} from '../../src/model/gates.js'
import {preserveHoles, remapPool} from '../../src/model/nat.js'
import {collisionShare, firstParityPorts, reservedInRange, reuseIntervalConnects, usablePorts} from '../../src/model/ports.js'
import {recovery} from '../../src/model/recovery.js'
import {bucketCap, rejectedShare} from '../../src/model/server.js'

// The small pure pieces of src/model (nat.ts, ports.ts, gates.ts, server.ts, recovery.ts) at
// the edges the scenario tests do not reach, each figure by hand (docs/kernel.md "NAT", "Client",
// "Server TIME_WAIT", "Recovery").

describe('remapPool: the NAT pool by regime', () => {
  it('free, conntrack 120 s ≥ TIME_WAIT 60 s: no collision; a tuple back after 120 s plus its turn among the free ones', () => {
    // 1000 ports at 5/s: 600 held by conntrack, 400 free, taken at 5/s: back after 120 + 400/5 = 200 s.
    const p = remapPool(1000, 5, 120, 60, true)
    expect(p).toEqual({regime: 'free', capacityQps: 1000 / 120, reuseSeconds: 200, collisionShare: 0, dropShare: 0})
    // No connects: never back.
    expect(remapPool(1000, 0, 120, 60, true).reuseSeconds).toBe(Infinity)
    // At the capacity exactly (1000/120 per second) still free: one tuple left at least.
    const edge = remapPool(1000, 1000 / 120, 120, 60, true)
    expect(edge.regime).toBe('free')
    expect(edge.reuseSeconds).toBeCloseTo(120 + 120 / 1000, 9)
  })

  it('free, conntrack 30 s < TIME_WAIT 60 s: a free tuple may still be in the server\'s TIME_WAIT for 30 s', () => {
    // 1000 ports at 5/s: 150 held, 850 free, 5/s spread over them: 1 − exp(−30 · 5 / 850).
    const p = remapPool(1000, 5, 30, 60, true)
    expect(p.reuseSeconds).toBeCloseTo(30 + 850 / 5, 9)
    expect(p.collisionShare).toBeCloseTo(1 - Math.exp((-30 * 5) / 850), 12)
    // No connects: no collisions (not 1 − exp(−∞)).
    expect(remapPool(1000, 0, 30, 60, true).collisionShare).toBe(0)
    // An empty pool counts as one tuple, not a division by zero.
    expect(remapPool(0, 0.001, 120, 60, true)).toMatchObject({regime: 'free', capacityQps: 1 / 120})
  })

  it('past the capacity, conntrack 58 s and 100 ports: the free regime\'s edge holds when it is above the recycling', () => {
    // Capacity 100/58 = 1.724/s; at 1.73/s a 6.5+ NAT recycles a tuple every 100/1.73 s:
    // 1 − exp(−60 · 1.73 / 100) = 0.646, but at the free edge (1 tuple free, 2 s of TIME_WAIT
    // left, 1.724/s): 1 − exp(−2 · 100/58) = 0.968. Never less than that.
    const ev = remapPool(100, 1.73, 58, 60, true)
    expect(ev.regime).toBe('evicting')
    expect(ev.reuseSeconds).toBeCloseTo(100 / 1.73, 12)
    expect(ev.collisionShare).toBeCloseTo(1 - Math.exp((-2 * 100) / 58), 12)
    // Recycling above the edge: 1000 ports, conntrack 120 s: 1 − exp(−60 · 120/1000).
    expect(remapPool(1000, 120, 120, 60, true).collisionShare).toBeCloseTo(1 - Math.exp(-7.2), 12)
    // Before 6.5: the admitted SYNs meet the edge's collisions, the rest are dropped, a tuple
    // back after conntrack's 58 s.
    const ex = remapPool(100, 1.73, 58, 60, false)
    expect(ex).toMatchObject({regime: 'exhausted', reuseSeconds: 58})
    expect(ex.collisionShare).toBeCloseTo(1 - Math.exp((-2 * 100) / 58), 12)
    expect(ex.dropShare).toBeCloseTo(1 - 100 / 58 / 1.73, 12)
    // conntrack 120 s ≥ 60 s: the tuples handed out are past TIME_WAIT.
    expect(remapPool(1000, 120, 120, 60, false).collisionShare).toBe(0)
  })
})

describe('preserveHoles', () => {
  it('a sender back on its port after conntrack let go: fewer ports owned, no holes', () => {
    // 2 senders at 1/s each on 500 ports: back after 500 s, past conntrack's 120 s: only
    // 120/500 of the time is the port still owned; 1/2 · 120/500 = 12 % remapped; no holes.
    const h = preserveHoles({qps: 2, senders: 2, senderPorts: 500, poolPorts: 64512, conntrackSeconds: 120, timeWaitSeconds: 60, evicts: true})
    expect(h.ownReuseSeconds).toBe(500)
    expect(h.remapShare).toBeCloseTo(0.12, 12)
    expect(h.holes).toBe(0)
    expect(h.freePorts).toBe(64012)
    expect(h.holeShare).toBe(0)
    expect(h.dropShare).toBe(0)
  })

  it('a sender back on its port exactly when conntrack lets go: no holes (its entry has just expired)', () => {
    // 2 senders at 10/s each on 300 ports: back after 30 s = conntrack's 30 s. Still owned (30/30),
    // 1/2 remapped, but the old entry is gone, not killed by the reuse: no hole.
    const h = preserveHoles({qps: 20, senders: 2, senderPorts: 300, poolPorts: 64512, conntrackSeconds: 30, timeWaitSeconds: 60, evicts: true})
    expect(h.ownReuseSeconds).toBe(30)
    expect(h.remapShare).toBe(0.5)
    expect(h.holes).toBe(0)
  })

  it('no connects, or one sender: nothing remapped', () => {
    const idle = preserveHoles({qps: 0, senders: 2, senderPorts: 500, poolPorts: 64512, conntrackSeconds: 120, timeWaitSeconds: 60, evicts: true})
    expect(idle).toMatchObject({ownReuseSeconds: Infinity, remapShare: 0, holes: 0, holeShare: 0, dropShare: 0})
    const one = preserveHoles({qps: 400, senders: 1, senderPorts: 500, poolPorts: 64512, conntrackSeconds: 120, timeWaitSeconds: 60, evicts: true})
    expect(one).toMatchObject({ownReuseSeconds: 1.25, remapShare: 0, holes: 0, holeShare: 0, dropShare: 0})
  })

  it('a pool barely larger than the senders\' ports: every remap lands in a hole, or is dropped before 6.5', () => {
    // 2 senders at 200/s on 500 ports, pool 600: 100 free. Holes 200 · (60 − 2.5) = 11,500 > 100: share 1.
    const p = {qps: 400, senders: 2, senderPorts: 500, poolPorts: 600, conntrackSeconds: 120, timeWaitSeconds: 60}
    const ev = preserveHoles({...p, evicts: true})
    expect(ev.freePorts).toBe(100)
    expect(ev.holeShare).toBe(1)
    expect(ev.dropShare).toBe(0)
    // 200/s remapped into 100 free tuples: 100/120 = 0.833/s find one, 1 − 0.833/200 dropped.
    const ex = preserveHoles({...p, evicts: false})
    expect(ex.dropShare).toBeCloseTo(1 - 100 / 120 / 200, 12)
    // A pool no larger than the senders' ports: one free tuple, not none.
    expect(preserveHoles({...p, poolPorts: 500, evicts: true}).freePorts).toBe(1)
  })

  it('a small free pool recycled by a 6.5 NAT: the recycled tuples collide more than the holes', () => {
    // 2 senders at 20/s each on 500 ports (back after 25 s), pool 5,000: 4,500 free. Half the
    // connects remapped (20/s): holes 20 · (60 − 25) = 700, a share 700 / 4500 = 0.156; the
    // remaps against 4500 / 120 = 37.5/s: free, conntrack 120 s: no collision from reuse.
    const h = preserveHoles({qps: 40, senders: 2, senderPorts: 500, poolPorts: 5000, conntrackSeconds: 120, timeWaitSeconds: 60, evicts: true})
    expect(h.holes).toBe(700)
    expect(h.holeShare).toBeCloseTo(700 / 4500, 12)
    // conntrack 10 s: back after 25 s, the owner's entry is gone: 1/2 · 10/25 = 20 % remapped,
    // no holes; but the free tuples come back inside the server's TIME_WAIT (50 s of it left).
    const short = preserveHoles({qps: 40, senders: 2, senderPorts: 500, poolPorts: 5000, conntrackSeconds: 10, timeWaitSeconds: 60, evicts: true})
    expect(short.holes).toBe(0)
    expect(short.remapShare).toBeCloseTo(0.5 * (10 / 25), 12)
    // remapped 40 · 0.2 = 8/s: 4,500 − 80 = 4,420 free: 1 − exp(−50 · 8 / 4420).
    expect(short.holeShare).toBeCloseTo(1 - Math.exp((-50 * 8) / 4420), 12)
  })
})

describe('ports', () => {
  it('a reserved range inside another counts once', () => {
    // 40000-40010 holds 40003-40005: 11 ports, not 14; 6 even (40000..40010).
    expect(reservedInRange([32768, 60999], [[40000, 40010], [40003, 40005]])).toBe(11)
    expect(usablePorts([32768, 60999], [[40003, 40005], [40000, 40010]])).toBe(28232 - 11)
    expect(firstParityPorts([32768, 60999], [[40000, 40010], [40003, 40005]])).toBe(14116 - 6)
    // Clipped to the range: 32760-32770 holds 3 ports of it (32768..32770), 2 even.
    expect(reservedInRange([32768, 60999], [[32760, 32770]])).toBe(3)
    expect(firstParityPorts([32768, 60999], [[32760, 32770]])).toBe(14116 - 2)
    // A one-port range of the other parity than a reserved neighbour.
    expect(firstParityPorts([40001, 40001], [[40000, 40000]])).toBe(1)
    expect(usablePorts([40001, 40001], [])).toBe(1)
    // An inverted range holds nothing.
    expect(usablePorts([40001, 40000], [])).toBe(0)
    expect(reservedInRange([40001, 40000], [[40000, 40001]])).toBe(0)
  })

  it('reuse interval: the whole range when sequential or when the first parity is all reserved', () => {
    expect(reuseIntervalConnects('sequential', 1000, 500)).toBe(1000)
    expect(reuseIntervalConnects('parity', 1000, 500)).toBe(500)
    expect(reuseIntervalConnects('parity-random', 1000, 500)).toBe(500)
    expect(reuseIntervalConnects('parity', 50, 0)).toBe(50)
  })

  it('collisions at exactly TIME_WAIT: a port back after exactly 60 s is free (the entry has just gone)', () => {
    // 14,116 / 235.2666… = 60 s exactly: not < 60.
    expect(collisionShare('parity', 14116, 14116 / 60, 60)).toBe(0)
    expect(collisionShare('sequential', 1, 1, 60)).toBe(1)
  })
})

describe('gates, server and recovery at their edges', () => {
  it('the last release of a backport series is per 4-tuple, the one before the backport per host pair', () => {
    expect(tsOffsetScheme(parseKernel('6.12.999'))).toBe('per-4-tuple')
    expect(tsOffsetScheme(parseKernel('6.12.93'))).toBe('per-host-pair')
    expect(tsOffsetScheme(parseKernel('6.19.6'))).toBe('per-host-pair')
    expect(tsOffsetScheme(parseKernel('6.19.7'))).toBe('per-4-tuple')
    // Outside the series: 6.13 never got it.
    expect(tsOffsetScheme(parseKernel('6.13.999'))).toBe('per-host-pair')
    expect(tsOffsetScheme(parseKernel('4.10.0'))).toBe('per-connection')
    expect(tsOffsetScheme(parseKernel('4.11.0'))).toBe('per-host-pair')
    expect(tsOffsetScheme(parseKernel('3.10.0'))).toBe('none')
    // Asked again: the same answer.
    expect(tsOffsetScheme(parseKernel('6.18.17'))).toBe('per-4-tuple')
    expect(tsOffsetScheme(parseKernel('6.18.17'))).toBe('per-4-tuple')
  })

  it('unknown kernels: fast resend, eviction and the newer counter assumed', () => {
    expect(hasFastSynResend(null)).toBe(true)
    expect(natEvictsClosing(null)).toBe(true)
    expect(pawsTimewaitCounter(null)).toBe('TcpExtPAWSTimewait')
    expect(hasFastSynResend(parseKernel('5.5.99'))).toBe(false)
    expect(natEvictsClosing(parseKernel('6.4.99'))).toBe(false)
  })

  it('bucketCap: at most cap / tuples in TIME_WAIT, tuples at least 1', () => {
    expect(bucketCap(0.5, null, 100)).toBe(0.5)
    expect(bucketCap(0.5, 20, 100)).toBe(0.2)
    expect(bucketCap(0.1, 20, 100)).toBe(0.1)
    expect(bucketCap(0.5, 0.25, 0)).toBe(0.25)
    // x = 1 · 1/2 · 0.2 = 0.1: 0.1 / 1.1 with clearing, 0.1 without.
    expect(rejectedShare(0.2, 1, true)).toBeCloseTo(0.1 / 1.1, 15)
    expect(rejectedShare(0.2, 1, false)).toBeCloseTo(0.1, 15)
  })

  it('recovery: without PAWS and with the RST clearing, the resend goes through; with PAWS it is judged again', () => {
    expect(recovery({fastResend: true, paws: false, rstClears: true, rejectedShare: 0.3, rejectsPerTupleQps: 5})).toEqual({stallGivenReject: 0, rateLimited: 0})
    const paws = recovery({fastResend: true, paws: true, rstClears: true, rejectedShare: 0.3, rejectsPerTupleQps: 5})
    expect(paws.stallGivenReject).toBeCloseTo(0.3, 15)
    expect(paws.rateLimited).toBe(0)
    // rfc1337=1 (no clearing), no PAWS: judged again by sequence number (0.3), and the stale ACK
    // suppressed 1 − exp(−0.5 · 2) of the time: 1 − 0.7 · e^−1.
    const r = recovery({fastResend: true, paws: false, rstClears: false, rejectedShare: 0.3, rejectsPerTupleQps: 2})
    expect(r.rateLimited).toBeCloseTo(1 - Math.exp(-1), 15)
    expect(r.stallGivenReject).toBeCloseTo(1 - 0.7 * Math.exp(-1), 15)
    expect(recovery({fastResend: false, paws: false, rstClears: true, rejectedShare: 0.3, rejectsPerTupleQps: 5})).toEqual({stallGivenReject: 1, rateLimited: 0})
  })
})
