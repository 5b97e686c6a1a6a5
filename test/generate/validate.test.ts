import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {planFromReport} from '../../src/generate/plan.js'
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

  it('refuses ip_unprivileged_port_start above the port range', () => {
    expect(errorOf(() => validatePlan(planOf({'net.ipv4.ip_unprivileged_port_start': '40000'}), facts)).oneLine()).toContain('above the local port range')
  })
})
