import {describe, expect, it} from 'vitest'

import {isTwError, type TwError} from '../../src/errors.js'
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

// What the merge, the ordering and the notes do in the cases the incident does not reach
// (surviving mutants of src/generate/plan.ts); every expected value is read off planFromReport's
// contract: the first remedy that sets a sysctl, entries in key order, no empty or repeated notes.
describe('planFromReport, the edges', () => {
  const conflict = (findings: Parameters<typeof report>[0]): TwError => {
    try {
      planFromReport(report(findings))
    } catch (e) {
      if (isTwError(e)) return e
      throw e
    }
    throw new Error('no conflict')
  }

  it('entries are in key order whatever order the findings ask in', () => {
    const plan = planFromReport(
      report([
        finding('r1', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1', 'net.core.somaxconn': '4096'}, why: 'a'})]),
        finding('r2', [remedy({sysctl: {'net.ipv4.tcp_fin_timeout': '30', 'net.ipv4.ip_local_port_range': '10000 65535', 'net.ipv4.tcp_max_tw_buckets': '5000'}, why: 'b'})]),
      ]),
    )
    expect(plan.entries.map((e) => e.key)).toEqual(['net.core.somaxconn', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_max_tw_buckets', 'net.ipv4.tcp_tw_reuse'])
  })

  it('a remedy with an empty sysctl map is not a sysctl remedy; a finding with no remedy at all is not "not a sysctl"', () => {
    const plan = planFromReport(
      report([
        finding('r1', [remedy({sysctl: {}, why: 'nothing to set'}), remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: 'reuse'})]),
        finding('r2', []),
      ]),
    )
    expect(plan.entries.map((e) => [e.key, e.value, e.ruleIds])).toEqual([['net.ipv4.tcp_tw_reuse', '1', ['r1']]])
    // The sysctl remedy is not r1's first: a better fix exists outside the file.
    expect(plan.betterRemedy).toEqual(['r1'])
    expect(plan.notSysctl).toEqual([])
  })

  it('reasons are one trimmed line each; a blank reason is not a note', () => {
    const plan = planFromReport(
      report([
        finding('r1', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: '   '})], {flow: 'f1'}),
        finding('r2', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: '  fewer\n  ports\t held  '})], {flow: 'f2'}),
        finding('r3', [remedy({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: '\n'})]),
      ]),
    )
    expect(plan.entries).toEqual([{key: 'net.ipv4.tcp_tw_reuse', value: '1', ruleIds: ['r1', 'r2', 'r3'], reasons: ['fewer ports held'], flows: ['f1', 'f2']}])
  })

  it('port ranges or bucket caps that are not whole numbers do not merge: a conflict naming the key, with how to resolve it', () => {
    const ranges = conflict([
      finding('r1', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '20000 60999'}, why: 'a'})]),
      finding('r2', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '15000 6e4.5'}, why: 'b'})]),
    ])
    expect([ranges.code, ranges.position, ranges.hint]).toEqual([
      'generate.conflict',
      {field: 'net.ipv4.ip_local_port_range'},
      'waive one of them (topology waivers, or --waive r2) or change the topology so they agree',
    ])
    // Only one side not a number is enough; so is a fractional one.
    for (const [a, b] of [
      ['8000', 'lots'],
      ['8000.5', '3000'],
    ]) {
      const buckets = conflict([
        finding('r1', [remedy({sysctl: {'net.ipv4.tcp_max_tw_buckets': a!}, why: 'a'})]),
        finding('r2', [remedy({sysctl: {'net.ipv4.tcp_max_tw_buckets': b!}, why: 'b'})]),
      ])
      expect([buckets.code, buckets.position]).toEqual(['generate.conflict', {field: 'net.ipv4.tcp_max_tw_buckets'}])
    }
    for (const b of ['15000', '15000 50000.5', 'x 50000']) {
      const e = conflict([
        finding('r1', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '20000 60999'}, why: 'a'})]),
        finding('r2', [remedy({sysctl: {'net.ipv4.ip_local_port_range': b}, why: 'b'})]),
      ])
      expect(e.code).toBe('generate.conflict')
    }
  })
})
