import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import type {Facts} from '../../src/facts/types.js'
import {planFromReport, type Plan} from '../../src/generate/plan.js'
import {validatePlan} from '../../src/generate/validate.js'
import {finding, fixtureFacts, incidentReport, remedy, report} from './helpers.js'

function planOf(sysctl: Record<string, string>) {
  return planFromReport(report([finding('r', [remedy({sysctl, why: 'w'})])]))
}

function errorOf(fn: () => unknown): TwError {
  try {
    fn()
  } catch (e) {
    if (e instanceof TwError) return e
    throw e
  }
  throw new Error('expected a TwError')
}

describe('validatePlan against the 6.18 dump', () => {
  const facts = fixtureFacts()

  it('passes the incident plan', () => {
    expect(validatePlan(planFromReport(incidentReport()), facts)).toEqual({warnings: []})
  })

  it('refuses a key this kernel lacks, naming the key (tcp_tw_recycle left in 4.12)', () => {
    const e = errorOf(() => validatePlan(planOf({'net.ipv4.tcp_tw_recycle': '0'}), facts))
    expect(e.code).toBe('generate.unknown-key')
    expect(e.oneLine()).toMatch(/^net\.ipv4\.tcp_tw_recycle: kernel 6\.18\.44-fc-v669 has no such sysctl/)
  })

  it('asks /proc/sys (keyExists) for keys a live read did not open', () => {
    const plan = planOf({'net.ipv4.tcp_syncookies': '1'})
    const live = {...facts, source: 'live', sysctls: {}}
    expect(() => validatePlan(plan, live, {keyExists: () => true})).not.toThrow()
    expect(errorOf(() => validatePlan(plan, live, {keyExists: () => false})).code).toBe('generate.unknown-key')
  })

  it('refuses a port range whose low end is above its high end', () => {
    const e = errorOf(() => validatePlan(planOf({'net.ipv4.ip_local_port_range': '60000 50000'}), facts))
    expect(e.oneLine()).toContain('net.ipv4.ip_local_port_range: low 60000 is above high 50000')
  })

  it('refuses a port range below ip_unprivileged_port_start (current or planned)', () => {
    expect(errorOf(() => validatePlan(planOf({'net.ipv4.ip_local_port_range': '1000 60999'}), facts)).oneLine()).toContain('below ip_unprivileged_port_start 1024')
    const both = planOf({'net.ipv4.ip_local_port_range': '2000 60999', 'net.ipv4.ip_unprivileged_port_start': '3000'})
    expect(errorOf(() => validatePlan(both, facts)).position.field).toBe('net.ipv4.ip_local_port_range')
  })

  it('warns (does not refuse) when both ends have the same parity', () => {
    const {warnings} = validatePlan(planOf({'net.ipv4.ip_local_port_range': '10000 65000'}), facts)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('prefer different parity')
  })

  it('refuses a value whose shape differs from the kernel\'s (fields, integers)', () => {
    expect(errorOf(() => validatePlan(planOf({'net.ipv4.ip_local_port_range': '10000'}), facts)).code).toBe('generate.value')
    expect(errorOf(() => validatePlan(planOf({'net.ipv4.tcp_max_tw_buckets': 'lots'}), facts)).oneLine()).toContain('net.ipv4.tcp_max_tw_buckets')
  })

  // The per-key ranges of facts/values.ts (the kernel's own handlers) are the only check of these
  // three values' shape: validatePlan leans on them rather than repeating them.
  it('refuses port ranges, privileged-port starts and bucket caps the kernel would refuse, naming the key', () => {
    const refused = (key: string, value: string) => {
      const e = errorOf(() => validatePlan(planOf({[key]: value}), facts))
      return [e.code, e.position.field, e.message]
    }
    const range = 'net.ipv4.ip_local_port_range'
    const unpriv = 'net.ipv4.ip_unprivileged_port_start'
    const buckets = 'net.ipv4.tcp_max_tw_buckets'
    // 1..65535 per end (ip_local_port_range_min/max), low <= high.
    expect(refused(range, '0 60999')).toEqual(['generate.value', range, '0 is outside 1..65535; the kernel would refuse it'])
    expect(refused(range, '32768 65536')).toEqual(['generate.value', range, '65536 is outside 1..65535; the kernel would refuse it'])
    expect(refused(range, '40000 39999')).toEqual(['generate.value', range, 'low 40000 is above high 39999 (the kernel refuses such a range); the kernel would refuse it'])
    // ip_unprivileged_port_start: 0..65535 (ip_privileged_port_min/max).
    expect(refused(unpriv, '65536')).toEqual(['generate.value', unpriv, '65536 is outside 0..65535; the kernel would refuse it'])
    expect(refused(unpriv, '-1')).toEqual(['generate.value', unpriv, '-1 is outside 0..65535; the kernel would refuse it'])
    // tcp_max_tw_buckets: an int, 0..INT_MAX.
    expect(refused(buckets, '-1')).toEqual(['generate.value', buckets, '-1 is outside 0..2147483647; the kernel would refuse it'])
  })

  it('accepts ip_unprivileged_port_start at or below the port range\'s low end (current or planned)', () => {
    // The dump's range is 32768 60999: 1000 and 32768 are fine; with a planned range of 2000 60999, 2000 is.
    expect(validatePlan(planOf({'net.ipv4.ip_unprivileged_port_start': '1000'}), facts)).toEqual({warnings: []})
    expect(validatePlan(planOf({'net.ipv4.ip_unprivileged_port_start': '32768'}), facts)).toEqual({warnings: []})
    expect(validatePlan(planOf({'net.ipv4.ip_unprivileged_port_start': '2000', 'net.ipv4.ip_local_port_range': '2000 60999'}), facts)).toEqual({warnings: []})
  })

  it('refuses ip_unprivileged_port_start above the port range', () => {
    expect(errorOf(() => validatePlan(planOf({'net.ipv4.ip_unprivileged_port_start': '40000'}), facts)).oneLine()).toContain('above the local port range')
  })
})

// The checks that stand for the kernel on keys facts/values.ts has no range for (a plan may carry
// any key a rule sets), and the wording of what is refused (surviving mutants of
// src/generate/validate.ts). Values from the 6.18 dump: somaxconn 4096 (an int),
// tcp_rmem "4096 131072 33554432" (three fields), tcp_congestion_control bbr (a word),
// ip_local_port_range "32768 60999", ip_unprivileged_port_start 1024.
describe('validatePlan, the kernel\'s shape for keys without a range of their own', () => {
  const facts = fixtureFacts()
  const plan = (entries: [string, string][]): Plan => ({host: 'h', kernel: '6.18.44-fc-v669', source: 's', entries: entries.map(([key, value]) => ({key, value, ruleIds: ['r'], reasons: [], flows: []})), notSysctl: [], betterRemedy: []})
  const refusal = (entries: [string, string][], f: Facts = facts) => {
    const e = errorOf(() => validatePlan(plan(entries), f))
    return [e.code, e.position.field, e.message]
  }

  it('refuses a key that is not a sysctl name and a value a sysctl.d line cannot carry', () => {
    expect(refusal([['net.core.somaxconn x', '1']])).toEqual(['generate.key', 'net.core.somaxconn x', 'is not a sysctl key'])
    expect(refusal([['net.core.somaxconn', '4096#']])).toEqual(['generate.value', 'net.core.somaxconn', '"4096#" is not a value a sysctl.d line can carry'])
    expect(refusal([['net.core.somaxconn', '40;96']])[0]).toBe('generate.value')
  })

  it('a value needs as many fields as the kernel\'s, and integers where the kernel has integers', () => {
    expect(refusal([['net.ipv4.tcp_rmem', '4096 131072']])).toEqual(['generate.value', 'net.ipv4.tcp_rmem', '"4096 131072" has 2 field(s); the kernel\'s value "4096 131072 33554432" has 3'])
    expect(refusal([['net.core.somaxconn', 'lots']])).toEqual(['generate.value', 'net.core.somaxconn', '"lots" is not an integer value like the kernel\'s "4096"'])
    expect(refusal([['net.ipv4.tcp_rmem', '4096 x 33554432']])[0]).toBe('generate.value')
    // A word where the kernel has a word is not an integer problem.
    expect(validatePlan(plan([['net.ipv4.tcp_congestion_control', 'cubic']]), facts)).toEqual({warnings: []})
  })

  it('an integer field must fit the C int the kernel parses: -2147483648 .. 2147483647', () => {
    expect(validatePlan(plan([['net.core.somaxconn', '2147483647']]), facts)).toEqual({warnings: []})
    expect(validatePlan(plan([['net.ipv4.tcp_rmem', '-2147483648 131072 2147483647']]), facts)).toEqual({warnings: []})
    expect(refusal([['net.core.somaxconn', '2147483648']])).toEqual(['generate.value', 'net.core.somaxconn', '"2147483648" is outside the kernel\'s int range'])
    expect(refusal([['net.ipv4.tcp_rmem', '4096 -2147483649 1']])[2]).toBe('"4096 -2147483649 1" is outside the kernel\'s int range')
  })

  it('a missing key names the kernel of the facts, else the plan\'s, else "unknown"', () => {
    const noKernel = {...facts, kernel: null}
    expect(refusal([['net.ipv4.tcp_tw_recycle', '0']], noKernel)[2]).toBe(`kernel 6.18.44-fc-v669 has no such sysctl (source: ${facts.source})`)
    const e = errorOf(() => validatePlan({...plan([['net.ipv4.tcp_tw_recycle', '0']]), kernel: null}, noKernel))
    expect(e.message).toBe(`kernel unknown has no such sysctl (source: ${facts.source})`)
  })

  it('a port range may start at ip_unprivileged_port_start, and it may equal the range\'s low end', () => {
    expect(validatePlan(plan([['net.ipv4.ip_local_port_range', '1024 60999']]), facts)).toEqual({warnings: []})
    expect(validatePlan(plan([['net.ipv4.ip_unprivileged_port_start', '32768']]), facts)).toEqual({warnings: []})
    expect(refusal([['net.ipv4.ip_unprivileged_port_start', '32769']])[2]).toBe('32769 is above the local port range\'s low end 32768; the kernel rejects it (EINVAL)')
    // With no port range in the facts or the plan there is nothing to be above.
    const {['net.ipv4.ip_local_port_range']: _range, ...rest} = facts.sysctls
    expect(validatePlan(plan([['net.ipv4.ip_unprivileged_port_start', '40000']]), {...facts, sysctls: rest})).toEqual({warnings: []})
  })
})
