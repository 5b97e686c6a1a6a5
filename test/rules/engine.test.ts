// The engine through its public entry (evaluateHost): waivers, evidence names and values, the
// order of findings, what a remedy trial reports. The rules' own cases cover each rule; these
// cover what the engine does around them.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {evaluateHost, evidenceName, type RemedyTrial} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import type {Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const rules = loadRules()
const facts = {
  source: 'dump.txt',
  kernel: parseKernel('6.8.0'),
  sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_timestamps': '1'},
  counters: {},
}
// Client closes first at 600/s: 28,232 ports / 60 s = 470.5/s, so the ports run out.
const exhausted = makeFlow({name: 'to-cache', role: 'client', qps: 600, closes_first: 'client'})
const quiet = makeFlow({name: 'to-db', role: 'client', qps: 10, closes_first: 'client', keepalive: true})
const topo = (over: Partial<Topology> = {}): Topology => ({file: 't.yaml', waivers: [], flows: [exhausted, quiet], ...over})

describe('evaluateHost', () => {
  it('names the host from the topology, else the label, else the facts source', () => {
    expect(evaluateHost(facts, topo({host: 'web-01'}), rules, {hostLabel: 'x'}).host).toBe('web-01')
    expect(evaluateHost(facts, topo(), rules, {hostLabel: 'x'}).host).toBe('x')
    expect(evaluateHost(facts, topo(), rules).host).toBe('dump.txt')
    expect(evaluateHost({...facts, source: 'live'}, topo(), rules).host).toBe('localhost')
    expect(evaluateHost(facts, topo(), rules).kernel).toBe('6.8.0')
  })

  it('a flow rule fires for the flow that breaks and not for the quiet one', () => {
    const r = evaluateHost(facts, topo(), rules)
    const ex = r.findings.filter((f) => f.id === 'client-port-exhaustion')
    expect(ex.map((f) => f.flow)).toEqual(['to-cache'])
    expect(ex[0]!.severity).toBe('critical')
  })

  it('findings come most severe first, then by id, then by flow, whatever order rules and flows come in', () => {
    const zed = makeFlow({name: 'z-flow', role: 'client', qps: 600, closes_first: 'client'})
    const r = evaluateHost(facts, topo({flows: [zed, exhausted]}), [...rules].reverse())
    expect(r.findings.filter((f) => f.id === 'client-port-exhaustion').map((f) => f.flow)).toEqual(['to-cache', 'z-flow'])
    const rank = {critical: 2, warning: 1, info: 0}
    const keys = r.findings.map((f) => [rank[f.severity], f.id, f.flow ?? ''] as const)
    const sorted = [...keys].sort((a, b) => b[0] - a[0] || a[1].localeCompare(b[1]) || a[2].localeCompare(b[2]))
    expect(keys).toEqual(sorted)
    expect(new Set(r.findings.map((f) => f.severity)).size).toBeGreaterThan(1)
  })

  it('evidence is keyed by the last name of each expression, and an unlimited number is null', () => {
    const f = evaluateHost(facts, topo(), rules).findings.find((x) => x.id === 'client-port-exhaustion')!
    expect(f.evidence.connectsBeforeFailure).toBe(28232)
    expect(f.evidence.twReuse).toBe(2)
    const reuse = f.remedies.find((r) => r.sysctl?.['net.ipv4.tcp_tw_reuse'] === '1')!
    // With tcp_tw_reuse=1 no port runs out: "connects before failure" becomes unlimited.
    expect(reuse.after.connectsBeforeFailure).toBeNull()
  })

  it('waivers: --waive ID:flow marks only that flow, a topology waiver carries its reason', () => {
    const cli = evaluateHost(facts, topo(), rules, {waive: ['client-port-exhaustion:to-cache']})
    expect(cli.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toEqual({reason: 'waived on the command line'})
    const other = evaluateHost(facts, topo(), rules, {waive: ['client-port-exhaustion:to-db']})
    expect(other.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toBeUndefined()
    const byId = evaluateHost(facts, topo(), rules, {waive: ['client-port-exhaustion']})
    expect(byId.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toBeDefined()
    const file = evaluateHost(facts, topo({waivers: [{id: 'client-port-exhaustion', flow: 'to-cache', reason: 'pool lands in May'}]}), rules)
    expect(file.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toEqual({reason: 'pool lands in May'})
    const fileOther = evaluateHost(facts, topo({waivers: [{id: 'client-port-exhaustion', flow: 'to-db', reason: 'r'}]}), rules)
    expect(fileOther.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toBeUndefined()
    // A topology waiver without a flow waives the rule on every flow; a waiver of another rule, none.
    const fileAll = evaluateHost(facts, topo({waivers: [{id: 'client-port-exhaustion', reason: 'all of them'}]}), rules)
    expect(fileAll.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toEqual({reason: 'all of them'})
    const otherRule = evaluateHost(facts, topo({waivers: [{id: 'keepalive-off', flow: 'to-cache', reason: 'r'}]}), rules, {waive: ['keepalive-off:to-cache', 'keepalive-off']})
    expect(otherRule.findings.find((f) => f.id === 'client-port-exhaustion')!.waived).toBeUndefined()
  })

  it('reports every remedy trial with the flow, what it sets and its outcome', () => {
    const trials: RemedyTrial[] = []
    evaluateHost(facts, topo(), rules, {onRemedy: (t) => trials.push(t)})
    const mine = trials.filter((t) => t.rule === 'client-port-exhaustion')
    expect(mine.every((t) => t.flow === 'to-cache')).toBe(true)
    expect(mine.find((t) => t.sets.includes('net.ipv4.tcp_tw_reuse'))!.outcome).toBe('offered')
    // tcp_timestamps is already 1: the remedy that turns it on is not considered.
    expect(mine.find((t) => t.sets.length === 1 && t.sets[0] === 'net.ipv4.tcp_timestamps')!.outcome).toBe('gated')
    const host = trials.filter((t) => t.flow === undefined)
    for (const t of host) expect(rules.find((r) => r.id === t.rule)!.applies_to).toBe('host')
  })
})

describe('a remedy the model has no value for', () => {
  it('30,000/s toward one destination needs 1,980,000 ports: no range holds them, and the widening is not considered', () => {
    const trials: RemedyTrial[] = []
    const flood = makeFlow({name: 'flood', role: 'client', qps: 30_000, closes_first: 'client'})
    evaluateHost(facts, {file: 't.yaml', waivers: [], flows: [flood]}, rules, {onRemedy: (t) => trials.push(t)})
    const widen = trials.find((t) => t.rule === 'client-port-exhaustion' && t.sets.includes('net.ipv4.ip_local_port_range'))
    // The rule's `when` already asks for a range (suggestedPortRange != null).
    expect(widen?.outcome).toBe('gated')
  })

  it('a remedy whose template yields null (no `when` to stop it) is "no-value" and never applied', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-rule-'))
    try {
      writeFileSync(
        join(dir, 'no-value.yaml'),
        [
          'id: no-value',
          'title: t',
          'severity: warning',
          'applies_to: client',
          'when: model.portExhaustion',
          'message: m',
          'evidence: [model.qps]',
          'remedies:',
          // No range holds 1,980,000 ports: suggestedPortRange is null.
          "  - sysctl: {net.ipv4.ip_local_port_range: '{{ model.suggestedPortRange }}'}",
          '    why: w',
          "  - flow: {qps: '{{ model.vendorTimeWaitForSafeReuse }}'}",
          '    why: w',
          'explanation: e',
          'references: [r]',
          'cases:',
          '  fires: [{flow: {role: client, qps: 30000, closes_first: client}}]',
          '  passes: [{flow: {role: client, qps: 1, closes_first: client}}]',
          '',
        ].join('\n'),
      )
      const [rule] = loadRules(dir)
      const trials: RemedyTrial[] = []
      const flood = makeFlow({name: 'flood', role: 'client', qps: 30_000, closes_first: 'client'})
      const r = evaluateHost(facts, {file: 't.yaml', waivers: [], flows: [flood]}, [rule!], {onRemedy: (t) => trials.push(t)})
      expect(trials.map((t) => t.outcome)).toEqual(['no-value', 'no-value'])
      expect(r.findings[0]!.remedies).toEqual([])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('evidenceName', () => {
  it('takes the last field, or the quoted key of an index', () => {
    expect(evidenceName('model.safeQps')).toBe('safeQps')
    expect(evidenceName("sysctl['net.ipv4.tcp_timestamps']")).toBe('net.ipv4.tcp_timestamps')
    expect(evidenceName('sysctl["net.ipv4.tcp_rfc1337"] ')).toBe('net.ipv4.tcp_rfc1337')
    // No name at the end (an expression): the expression itself.
    expect(evidenceName('flow.qps * 2')).toBe('flow.qps * 2')
    expect(evidenceName('host.timestamps')).toBe('timestamps')
  })
})
