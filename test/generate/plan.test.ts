import {describe, expect, it} from 'vitest'

import {isTwError} from '../../src/errors.js'
import {planFromReport} from '../../src/generate/plan.js'
import {finding, incidentReport, remedy, report} from './helpers.js'

describe('planFromReport', () => {
  it('takes the first-ranked remedy that sets a sysctl, skipping flow/action remedies', () => {
    const plan = planFromReport(incidentReport())
    expect(plan.entries.map((e) => [e.key, e.value])).toEqual([
      ['net.ipv4.ip_local_port_range', '10000 65535'],
      ['net.ipv4.tcp_max_tw_buckets', '5000'],
    ])
    const buckets = plan.entries.find((e) => e.key === 'net.ipv4.tcp_max_tw_buckets')!
    expect(buckets.ruleIds).toEqual(['server-tw-collision-shared'])
    expect(buckets.reasons).toEqual(['With at most 5000 entries in TIME_WAIT, a reused tuple finds one in at most 1 % of new connections.'])
    expect(buckets.flows).toEqual(['api-to-php'])
    // keep-alive ranks above the bucket cap: the file says a better fix exists outside it.
    expect(plan.betterRemedy).toEqual(['server-tw-collision-shared'])
  })

  it('ignores waived findings and lists findings whose remedies are not sysctls', () => {
    const plan = planFromReport(
      report([
        finding('a', [remedy({sysctl: {'net.ipv4.tcp_max_tw_buckets': '100'}, why: 'x'})], {waived: {reason: 'accepted'}}),
        finding('b', [remedy({action: 'keep-alive', why: 'y'})]),
      ]),
    )
    expect(plan.entries).toEqual([])
    expect(plan.notSysctl).toEqual(['b'])
  })

  it('merges ip_local_port_range to the widest range and tcp_max_tw_buckets to the smallest', () => {
    const plan = planFromReport(
      report([
        finding('r1', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '20000 60999', 'net.ipv4.tcp_max_tw_buckets': '8000'}, why: 'one'})]),
        finding('r2', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '15000 50000', 'net.ipv4.tcp_max_tw_buckets': '3000'}, why: 'two'})]),
        finding('r1', [remedy({sysctl: {'net.ipv4.tcp_max_tw_buckets': '9000'}, why: 'one'})], {flow: 'other'}),
      ]),
    )
    const byKey = Object.fromEntries(plan.entries.map((e) => [e.key, e]))
    expect(byKey['net.ipv4.ip_local_port_range']!.value).toBe('15000 60999')
    expect(byKey['net.ipv4.tcp_max_tw_buckets']!.value).toBe('3000')
    expect(byKey['net.ipv4.tcp_max_tw_buckets']!.ruleIds).toEqual(['r1', 'r2'])
    expect(byKey['net.ipv4.tcp_max_tw_buckets']!.reasons).toEqual(['one', 'two'])
  })

  it('accepts the same value from two rules and refuses two different values, naming both rules and the key', () => {
    const same = planFromReport(
      report([
        finding('r1', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: 'a'})]),
        finding('r2', [remedy({sysctl: {'net/ipv4/tcp_tw_reuse': ' 1 '}, why: 'b'})]),
      ]),
    )
    expect(same.entries).toEqual([{key: 'net.ipv4.tcp_tw_reuse', value: '1', ruleIds: ['r1', 'r2'], reasons: ['a', 'b'], flows: []}])
    let error: unknown
    try {
      planFromReport(
        report([
          finding('r1', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: 'a'})]),
          finding('r2', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '0'}, why: 'b'})]),
        ]),
      )
    } catch (e) {
      error = e
    }
    expect(isTwError(error)).toBe(true)
    const line = (error as {oneLine(): string}).oneLine()
    expect(line).toContain('r1')
    expect(line).toContain('r2')
    expect(line).toContain('net.ipv4.tcp_tw_reuse')
  })
})
