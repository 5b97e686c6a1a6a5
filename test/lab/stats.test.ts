import {describe, expect, it} from 'vitest'

import type {Attempt} from '../../src/lab/driver.js'
import {connectsBeforeFirstExhaustion, percentile, summarize} from '../../src/lab/stats.js'

describe('lab figures', () => {
  it('counts failures by kind, slow connects over 500 ms, and nearest-rank percentiles', () => {
    const a: Attempt[] = [
      [0, 0.2, 'ok', 40000],
      [5, 1003, 'ok', 40002],
      [10, null, 'EADDRNOTAVAIL', null],
      [15, null, 'timeout', null],
      [20, 0.4, 'reset', 40004],
      [25, null, 'other', null],
    ]
    const s = summarize([a])
    expect(s.attempts).toBe(6)
    expect(s.ok).toBe(2)
    expect(s.failures).toEqual({EADDRNOTAVAIL: 1, reset: 1, timeout: 1, other: 1})
    expect(s.slow).toBe(1)
    expect(s.p50_ms).toBe(0.4)
    expect(s.max_ms).toBe(1003)
    expect(percentile([1, 2, 3, 4], 99)).toBe(4)
    expect(percentile([], 50)).toBeNull()
  })

  it('leaves "other" out of failures when nothing else went wrong (the JSON shape of issue 3)', () => {
    expect(Object.keys(summarize([[[0, 1, 'ok', 1]]]).failures)).toEqual(['EADDRNOTAVAIL', 'reset', 'timeout'])
  })

  it('counts successful connects before the first EADDRNOTAVAIL in launch order', () => {
    const a: Attempt[] = [
      [30, null, 'EADDRNOTAVAIL', null],
      [0, 0.1, 'ok', 1],
      [10, 0.1, 'ok', 2],
      [20, null, 'timeout', null],
      [40, 0.1, 'ok', 3],
    ]
    expect(connectsBeforeFirstExhaustion(a)).toBe(2)
    expect(connectsBeforeFirstExhaustion([[0, 0.1, 'ok', 1]])).toBeNull()
  })
})
