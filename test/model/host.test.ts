// hostParams: how sysctl text becomes the numbers the model uses, and what an absent key means
// (the kernel's default, not zero). Each default cites the kernel fact it stands for.
import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hostParams, parsePortList} from '../../src/model/host.js'

const params = (sysctls: Record<string, string>, kernelOverride?: string) =>
  hostParams({source: 't', kernel: parseKernel('6.8.0'), sysctls, counters: {}}, kernelOverride)

describe('hostParams: absent keys are the kernel defaults', () => {
  // Computed in each test, not in the describe body (which runs outside any test: static for Stryker).
  const defaults = () => params({})

  it('tcp_timestamps 1, tcp_rfc1337 0, tcp_tw_reuse delay 2000 ms before 6.14 (whole seconds), ip_unprivileged_port_start 1024', () => {
    const p = defaults()
    expect(p.timestamps).toBe(1)
    expect(p.rfc1337).toBe(0)
    // 6.8 has no tcp_tw_reuse_delay: tcp_twsk_unique() compares whole seconds, so up to 2 s.
    expect(p.twReuseDelayMs).toBe(2000)
    expect(params({}, '6.14.0').twReuseDelayMs).toBe(1000)
    expect(p.unprivilegedPortStart).toBe(1024)
  })

  it('unknown stays unknown: tcp_tw_reuse, tw_recycle, fin_timeout, conntrack and the vendor knob are null', () => {
    const p = defaults()
    expect(p.twReuse).toBeNull()
    // The bucket cap is not unknown: the kernel's default is estimated, and said so.
    expect(p.maxTwBuckets).toBeGreaterThan(0)
    expect(p.maxTwBucketsSource).not.toBe('sysctl')
    expect(p.twRecycle).toBeNull()
    expect(p.finTimeoutSeconds).toBeNull()
    expect(p.conntrackTimeWaitSeconds).toBeNull()
    expect(p.vendorTimeWaitSeconds).toBeNull()
  })

  it('TIME_WAIT is the mainline 60 s; no reserved ports; the detected kernel is not an override', () => {
    const p = defaults()
    expect(p.timeWaitSeconds).toBe(60)
    expect(p.reservedPorts).toEqual([])
    expect(p.kernelOverridden).toBe(false)
    expect(p.kernel?.raw).toBe('6.8.0')
  })
})

describe('hostParams: values as a dump prints them', () => {
  it('reads every key it models, with tabs and extra fields as `sysctl -a` writes them', () => {
    const p = params({
      'net.ipv4.ip_local_port_range': '1024\t65535',
      'net.ipv4.ip_local_reserved_ports': '8080-8090, 9000',
      'net.ipv4.ip_unprivileged_port_start': '1000',
      'net.ipv4.tcp_tw_reuse': ' 1 ',
      'net.ipv4.tcp_tw_reuse_delay': '250',
      'net.ipv4.tcp_timestamps': '2',
      'net.ipv4.tcp_max_tw_buckets': '5000',
      'net.ipv4.tcp_rfc1337': '1',
      'net.ipv4.tcp_tw_recycle': '1',
      'net.ipv4.tcp_fin_timeout': '15',
      'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '30',
    })
    expect(p.portRange).toEqual([1024, 65535])
    expect(p.portRangeDeclared).toBe(true)
    expect(p.reservedPorts).toEqual([
      [8080, 8090],
      [9000, 9000],
    ])
    expect(p.unprivilegedPortStart).toBe(1000)
    expect(p.twReuse).toBe(1)
    expect(p.twReuseDelayMs).toBe(250)
    expect(p.timestamps).toBe(2)
    expect(p.maxTwBuckets).toBe(5000)
    expect(p.rfc1337).toBe(1)
    expect(p.twRecycle).toBe(1)
    expect(p.finTimeoutSeconds).toBe(15)
    expect(p.conntrackTimeWaitSeconds).toBe(30)
  })

  it('a vendor TIME_WAIT knob (Alibaba Cloud Linux tcp_tw_timeout) is the host’s TIME_WAIT length', () => {
    const p = params({'net.ipv4.tcp_tw_timeout': '20'})
    expect(p.vendorTimeWaitSeconds).toBe(20)
    expect(p.timeWaitSeconds).toBe(20)
  })

  it('a value that is not a number counts as absent (the default), not as NaN or 0', () => {
    const p = params({'net.ipv4.tcp_timestamps': 'on', 'net.ipv4.tcp_max_tw_buckets': '', 'net.ipv4.tcp_tw_reuse': 'x'})
    expect(p.timestamps).toBe(1)
    expect(p.maxTwBucketsSource).not.toBe('sysctl')
    expect(p.twReuse).toBeNull()
  })

  it('a port range with one end or a non-number falls back to 32768–60999, not declared', () => {
    for (const bad of ['40000', '40000 x', '']) {
      const p = params({'net.ipv4.ip_local_port_range': bad})
      expect(p.portRange, bad).toEqual([32768, 60999])
      expect(p.portRangeDeclared, bad).toBe(false)
    }
  })

  it('the topology’s kernel: replaces the detected one', () => {
    const p = params({}, '5.4.0')
    expect(p.kernel?.raw).toBe('5.4.0')
    expect(p.kernelOverridden).toBe(true)
  })
})

describe('parsePortList (ip_local_reserved_ports)', () => {
  it('reads ranges and single ports, skipping blanks and garbage', () => {
    expect(parsePortList('1000-1010,2000')).toEqual([
      [1000, 1010],
      [2000, 2000],
    ])
    expect(parsePortList(' 3000 , ,x, 4000-4001 ')).toEqual([
      [3000, 3000],
      [4000, 4001],
    ])
    // A range with a bad end is dropped, not read as NaN.
    expect(parsePortList('1000-x,2000')).toEqual([[2000, 2000]])
    expect(parsePortList('')).toEqual([])
    expect(parsePortList('   ')).toEqual([])
    expect(parsePortList(undefined)).toEqual([])
  })
})
