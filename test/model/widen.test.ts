import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {widenRange} from '../../src/model/flow.js'
import {hostParams} from '../../src/model/host.js'
import {usablePorts} from '../../src/model/ports.js'

// widenRange (src/model/flow.ts): keep the high end (made odd), lower the low end (made even) until
// `needed` usable ports fit, else raise the high end to 65535; never below
// ip_unprivileged_port_start. Expected ranges worked out by hand in the comments.

const host = (sysctls: Record<string, string> = {}) =>
  hostParams({source: 't', kernel: parseKernel('6.8.0'), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', ...sysctls}, counters: {}})

describe('widenRange', () => {
  it('keeps the high end and lowers the low end: 39,600 ports -> 60999 − 39600 + 1 = 21400', () => {
    expect(widenRange([32768, 60999], 39600, host())).toEqual([21400, 60999])
  })

  it('an even high end drops to odd, an odd low end drops to even', () => {
    // hi 61000 -> 60999; lo = 60999 − 30000 + 1 = 31000 (even).
    expect(widenRange([32768, 61000], 30000, host())).toEqual([31000, 60999])
    // lo = 60999 − 30001 + 1 = 30999 (odd) -> 30998.
    expect(widenRange([32768, 60999], 30001, host())).toEqual([30998, 60999])
  })

  it('never narrows: a range that already holds the ports keeps its low end', () => {
    // lo would be 60000, above 32768.
    expect(widenRange([32768, 60999], 1000, host())).toEqual([32768, 60999])
  })

  it('reserved ports inside the new range push the low end down by as many', () => {
    // 40000-40999 reserved (1,000): lo = 31000 − 1000 = 30000; 60999 − 30000 + 1 − 1000 = 30,000 usable.
    const h = host({'net.ipv4.ip_local_reserved_ports': '40000-40999'})
    expect(widenRange([32768, 60999], 30000, h)).toEqual([30000, 60999])
    expect(usablePorts([30000, 60999], h.reservedPorts)).toBe(30000)
  })

  it('reserved ports the lowered low end takes in count too', () => {
    // 30500-30999 and 40000-40999 reserved. lo = 31000 takes in 40000-40999: 1,000 short, so
    // lo = 30000; that takes in 30500-30999: 500 short, so lo = 29500 (even). 60999 − 29500 + 1 =
    // 31,500 ports, 1,500 reserved: 30,000 usable. (Counting only the first window's reserved
    // ports gave 30000-60999, 29,500 usable: a remedy range short of what it promised.)
    const h = host({'net.ipv4.ip_local_reserved_ports': '30500-30999,40000-40999'})
    expect(widenRange([32768, 60999], 30000, h)).toEqual([29500, 60999])
    expect(usablePorts([29500, 60999], h.reservedPorts)).toBe(30000)
  })

  it('a low end that reaches ip_unprivileged_port_start still short of ports goes on past it, and is refused there', () => {
    // 59,000 ports; 1024-1033 and 30000-30975 reserved (10 + 976). From 60999: lo = 2000, 976
    // short, lo = 1024 (the floor), now 10 short (1024-1033): lo = 1014 < 1024, refused. From
    // 65535: lo = 6536, 976 short, lo = 5560: 65535 − 5560 + 1 − 976 = 59,000. (Stopping at the
    // floor would give 1024-60999, 10 ports short.)
    const h = host({'net.ipv4.ip_local_reserved_ports': '1024-1033,30000-30975'})
    expect(widenRange([32768, 60999], 59000, h)).toEqual([5560, 65535])
    expect(usablePorts([5560, 65535], h.reservedPorts)).toBe(59000)
  })

  it('raises the high end to 65535 when lowering alone would cross ip_unprivileged_port_start', () => {
    // From 40001: lo = 40001 − 40000 + 1 = 2 < 1024; from 65535: lo = 25536 (even).
    expect(widenRange([32768, 40001], 40000, host())).toEqual([25536, 65535])
    // ip_unprivileged_port_start 30000: from 60999, lo = 21400 < 30000; from 65535, lo = 25936 < 30000.
    expect(widenRange([32768, 60999], 39600, host({'net.ipv4.ip_unprivileged_port_start': '30000'}))).toBeNull()
    // ... and 25936 is allowed from 25936 on.
    expect(widenRange([32768, 60999], 39600, host({'net.ipv4.ip_unprivileged_port_start': '25936'}))).toEqual([25936, 65535])
  })

  it('no range holds more than 65,535 ports; port 0 is never used', () => {
    expect(widenRange([32768, 60999], 70000, host())).toBeNull()
    // With ip_unprivileged_port_start=0: 65,534 ports fit in 2..65535; 65,535 would need port 1, made even: 0.
    const open = host({'net.ipv4.ip_unprivileged_port_start': '0'})
    expect(widenRange([32768, 60999], 65534, open)).toEqual([2, 65535])
    expect(widenRange([32768, 60999], 65535, open)).toBeNull()
  })
})
