import {describe, expect, it} from 'vitest'

import {collisionShare, firstParityPorts, reservedInRange, usablePorts} from '../../src/model/ports.js'

// Port arithmetic of src/model/ports.ts, by hand. The default range 32768 60999 holds
// 60999 − 32768 + 1 = 28,232 ports, 14,116 of them even (the range start's parity).

describe('usable and first-parity ports', () => {
  it('a reserved port of the other parity leaves the first-parity count alone', () => {
    // 32769 is odd: usable 28,232 − 1 = 28,231; the even ports stay 14,116.
    expect(usablePorts([32768, 60999], [[32769, 32769]])).toBe(28231)
    expect(firstParityPorts([32768, 60999], [[32769, 32769]])).toBe(14116)
    // 32768..32770 holds two even ports (32768, 32770): 14,116 − 2 = 14,114.
    expect(firstParityPorts([32768, 60999], [[32768, 32770]])).toBe(14114)
    // An odd range start: 32769..60999 has 28,231 ports, (60999 − 32769)/2 + 1 = 14,116 odd ones;
    // reserving 32770 (even) leaves them, reserving 32771 takes one.
    expect(firstParityPorts([32769, 60999], [[32770, 32770]])).toBe(14116)
    expect(firstParityPorts([32769, 60999], [[32771, 32771]])).toBe(14115)
  })

  it('overlapping reserved lists count a shared port once', () => {
    // 40000..40010 and 40010..40020 share 40010: 21 distinct ports, 28,232 − 21 = 28,211.
    expect(usablePorts([32768, 60999], [[40010, 40020], [40000, 40010]])).toBe(28211)
    expect(reservedInRange([32768, 60999], [[40000, 40010], [40010, 40020]])).toBe(21)
    // Adjacent lists (no shared port): 11 + 10 = 21 as well.
    expect(usablePorts([32768, 60999], [[40000, 40010], [40011, 40020]])).toBe(28211)
  })
})

describe('collisionShare', () => {
  it('parity-random: 1 − exp(−60·r / interval); 35 % at 100/s on the default range (docs/kernel.md)', () => {
    // 1 − exp(−60 · 100 / 14,116) = 1 − exp(−0.42505) = 0.3463.
    expect(collisionShare('parity-random', 14116, 100, 60)).toBeCloseTo(0.3463, 4)
  })

  it('sequential and parity: every connect collides once the port comes back within TIME_WAIT, none before', () => {
    // 14,116 / 235 = 60.07 s > 60 s: none; 14,116 / 236 = 59.8 s < 60 s: all.
    expect(collisionShare('parity', 14116, 235, 60)).toBe(0)
    expect(collisionShare('parity', 14116, 236, 60)).toBe(1)
    expect(collisionShare('sequential', 28232, 471, 60)).toBe(1)
  })

  it('no connects collide with nothing; no ports at all means every connect fails', () => {
    expect(collisionShare('parity-random', 14116, 0, 60)).toBe(0)
    expect(collisionShare('parity', 14116, 0, 60)).toBe(0)
    // A negative rate is no connects too (not 1 − exp(+x) < 0).
    expect(collisionShare('parity-random', 14116, -1, 60)).toBe(0)
    // interval 0 (every port reserved) at 0/s: 1, not 0/0.
    expect(collisionShare('parity-random', 0, 0, 60)).toBe(1)
    expect(collisionShare('sequential', 0, 0, 60)).toBe(1)
  })
})
