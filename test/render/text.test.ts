import {describe, expect, it} from 'vitest'

import {changes} from '../../src/render/text.js'

// The "after:" line of a remedy in `check`'s text output: the evidence the remedy moved, before → after.
describe('a remedy\'s after line', () => {
  it('shows a number under 0.0005 with two significant digits, not as 0 (issue 10\'s Why B read "stallShare 0 → 0")', () => {
    // 0.00019 is the 0.019 % the finding's message gives; 0.001 (0.1 %) keeps formatNumber's three decimals.
    expect(changes({stallShare: 0.00019, stuckTupleShare: 0.001}, {stallShare: 0, stuckTupleShare: 0})).toEqual(['stallShare 0.00019 → 0', 'stuckTupleShare 0.001 → 0'])
    // 0.000194 to two significant digits is 0.00019; 1.26e-7 is 0.00000013 (plain notation); the sign stays.
    expect(changes({a: 0.000194, b: 1.26e-7, c: -0.00042}, {a: 1, b: 2, c: 3})).toEqual(['a 0.00019 → 1', 'b 0.00000013 → 2', 'c -0.00042 → 3'])
  })

  it('gives two values that print alike more digits, so a change never reads "x → x"', () => {
    // Why B's stall share with tcp_rfc1337=0: 0.000194 → 0.000185 are both 0.00019 at two figures.
    expect(changes({stallShare: 0.000194}, {stallShare: 0.0001852})).toEqual(['stallShare 0.000194 → 0.000185'])
    // formatNumber prints 207.3 and 207.4 as 207 (no decimals from 100 up): three figures are still 207, four differ.
    expect(changes({safeQps: 207.3}, {safeQps: 207.4})).toEqual(['safeQps 207.3 → 207.4'])
    // 1,000 and 1,000.4: formatNumber prints both as 1,000; 5 figures differ (1000 → 1000.4).
    expect(changes({n: 1000}, {n: 1000.4})).toEqual(['n 1000 → 1000.4'])
    // Alike at six figures too: a bisection's tolerance (relative 1e-6), not a change the remedy made.
    expect(changes({safeQps: 235.26713, margin: 2.55}, {safeQps: 235.26709, margin: 0.905})).toEqual(['margin 2.55 → 0.905'])
  })

  it('keeps formatNumber for everything else, and leaves out what did not move', () => {
    // 0.0005 rounds to 0.001 at three decimals (formatNumber); 21,400 is grouped; null is "unlimited".
    expect(changes({x: 0.0005, y: 21400, z: null, same: 7}, {x: 0.25, y: 60999, z: 5000, same: 7})).toEqual(['x 0.001 → 0.25', 'y 21,400 → 60,999', 'z unlimited → 5,000'])
  })
})
