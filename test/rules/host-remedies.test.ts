// Remedies judged on the whole host (issue 12, item 4): applied alone, a remedy must not create
// a finding as severe elsewhere on the host; otherwise `check` offers the combination that holds,
// the same one `generate` writes.
import {describe, expect, it} from 'vitest'

import type {Facts} from '../../src/facts/types.js'
import {parseKernel} from '../../src/facts/kernel.js'
import {planFromReport} from '../../src/generate/plan.js'
import {settleReport} from '../../src/generate/settle.js'
import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import type {Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const rules = loadRules()
const facts = (sysctls: Record<string, string>): Facts => ({
  source: 't',
  kernel: parseKernel('6.8.0'),
  sysctls: {'kernel.osrelease': '6.8.0', 'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_reuse_delay': '1000', ...sysctls},
  counters: {},
})

// Flow a alone needs 72,000 TIME_WAIT ports toward one destination (1,200/s × 60 s) and has
// 64,512: it only gets by because the host overflows its 70,000 cap and closes skip TIME_WAIT.
const host = facts({'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_max_tw_buckets': '70000'})
const topology: Topology = {
  file: 't.yaml',
  waivers: [],
  flows: [
    makeFlow({name: 'a', role: 'client', qps: 1200, closes_first: 'client', peer: '198.18.0.10:80'}),
    makeFlow({name: 'b', role: 'client', qps: 400, closes_first: 'client', peer: '198.18.0.11:80'}),
  ],
}

describe('a remedy that would create a critical elsewhere on the host', () => {
  // Evaluated inside each test, not once in the describe body: work done while vitest collects
  // the file runs outside any test, so Stryker counts every mutant it reaches as static and runs
  // the whole suite for it (docs/mutation.md).
  const judged = () => {
    const report = evaluateHost(host, topology, rules)
    return {report, overflow: report.findings.find((f) => f.id === 'tw-buckets-overflow')!}
  }

  it('the host overflows its cap, and no flow runs out of ports today', () => {
    const {report, overflow} = judged()
    expect(overflow).toBeDefined()
    expect(report.findings.map((f) => f.id)).not.toContain('client-port-exhaustion')
  })

  it('raising tcp_max_tw_buckets alone would make flow a run out of ports (the engine without host judgement offers it)', () => {
    const bare = evaluateHost(host, topology, rules, {judgeOnHost: false}).findings.find((f) => f.id === 'tw-buckets-overflow')!
    const alone = bare.remedies.find((r) => r.sysctl && Object.keys(r.sysctl).join() === 'net.ipv4.tcp_max_tw_buckets')
    expect(alone).toBeDefined()
    const after = evaluateHost({...host, sysctls: {...host.sysctls, ...alone!.sysctl}}, topology, rules)
    expect(after.findings.filter((f) => f.severity === 'critical').map((f) => `${f.id}:${f.flow}`)).toContain('client-port-exhaustion:a')
  })

  it('check does not offer it alone, but as the combination that holds', () => {
    const {overflow} = judged()
    expect(overflow.remedies.some((r) => r.sysctl && Object.keys(r.sysctl).join() === 'net.ipv4.tcp_max_tw_buckets')).toBe(false)
    const combo = overflow.remedies.find((r) => r.combinedWith)
    expect(combo?.combinedWith).toEqual(['client-port-exhaustion:a'])
    expect(combo?.sysctl).toEqual({'net.ipv4.tcp_max_tw_buckets': '88512', 'net.ipv4.tcp_tw_reuse': '1'})
    expect(combo?.why).toMatch(/client-port-exhaustion on flow a/)
    // Applied together: no critical, and the overflow is gone.
    const after = evaluateHost({...host, sysctls: {...host.sysctls, ...combo!.sysctl}}, topology, rules)
    expect(after.findings.filter((f) => f.severity === 'critical')).toEqual([])
    expect(after.findings.map((f) => f.id)).not.toContain('tw-buckets-overflow')
  })

  it('generate writes the same combination', () => {
    const {report} = judged()
    const settled = settleReport(report, {facts: host, topology, rules})
    const plan = Object.fromEntries(planFromReport(settled).entries.map((e) => [e.key, e.value]))
    expect(plan['net.ipv4.tcp_max_tw_buckets']).toBe('88512')
    expect(plan['net.ipv4.tcp_tw_reuse']).toBe('1')
  })
})

describe('remedies that create nothing are left as they were', () => {
  it('a lone client flow out of ports keeps its ranked remedies, none combined', () => {
    const r = evaluateHost(facts({'net.ipv4.tcp_max_tw_buckets': '262144'}), {file: 't', waivers: [], flows: [makeFlow({role: 'client', qps: 600, closes_first: 'client'})]}, rules)
    const bare = evaluateHost(facts({'net.ipv4.tcp_max_tw_buckets': '262144'}), {file: 't', waivers: [], flows: [makeFlow({role: 'client', qps: 600, closes_first: 'client'})]}, rules, {judgeOnHost: false})
    const f = r.findings.find((x) => x.id === 'client-port-exhaustion')!
    expect(f.remedies.length).toBeGreaterThan(0)
    expect(f.remedies.some((x) => x.combinedWith)).toBe(false)
    expect(f.remedies).toEqual(bare.findings.find((x) => x.id === 'client-port-exhaustion')!.remedies)
  })
})
