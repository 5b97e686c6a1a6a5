// Remedies must settle: apply the sysctl plan `generate` would write, check again, and the next
// plan may add nothing that undoes the first (the tw_buckets cap once flipped between 282 and
// 72,000 because the overflow rule "fixed" the collision remedy).
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {planFromReport} from '../../src/generate/plan.js'
import {settleReport} from '../../src/generate/settle.js'
import {factsFromDump} from '../../src/sources/dump.js'
import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {parseTopology} from '../../src/topology/load.js'
import type {Facts} from '../../src/facts/types.js'
import type {Topology} from '../../src/topology/types.js'
import {caseInput} from './case-input.js'

const rules = loadRules()

function settle(facts: Facts, topology: Topology): {first: Record<string, string>; second: Record<string, string>} {
  const plan1 = planFromReport(settleReport(evaluateHost(facts, topology, rules), {facts, topology, rules}))
  const first = Object.fromEntries(plan1.entries.map((e) => [e.key, e.value]))
  const applied: Facts = {...facts, sysctls: {...facts.sysctls, ...first}}
  const plan2 = planFromReport(evaluateHost(applied, topology, rules))
  return {first, second: Object.fromEntries(plan2.entries.map((e) => [e.key, e.value]))}
}

// Settled: the next run asks for nothing the first file does not already say.
function expectSettled({first, second}: {first: Record<string, string>; second: Record<string, string>}): void {
  for (const [key, value] of Object.entries(second)) {
    expect(`${key} = ${value}`).toBe(`${key} = ${first[key]}`)
  }
}

describe('applying the generated sysctls does not make the next run undo them', () => {
  it('the incident example settles after one round', () => {
    const facts = factsFromDump(readFileSync('examples/incident/sysctl.txt', 'utf8'), 'incident')
    const topology = parseTopology(readFileSync('examples/incident/topology.yaml', 'utf8'), 'topology.yaml')
    const r = settle(facts, topology)
    expect(Object.keys(r.first).length).toBeGreaterThan(0)
    expectSettled(r)
  })

  for (const rule of rules) {
    rule.cases.fires.forEach((c, i) => {
      it(`${rule.id}, firing case ${i + 1}, settles`, () => {
        const {facts, topology} = caseInput(c)
        expectSettled(settle(facts, topology))
      })
    })
  }
})

describe('a remedy that leads to another finding is planned in the same run', () => {
  it('a narrow port range: the widened range and the tcp_tw_reuse its scanning asks for, in one file', () => {
    const {facts, topology} = caseInput({
      sysctl: {'net.ipv4.ip_local_port_range': '40000 40999'},
      flow: {role: 'client', qps: 100, closes_first: 'client'},
    })
    const r = settle(facts, topology)
    expect(Object.keys(r.first).sort()).toEqual(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse'])
    expect(r.second).toEqual({})
  })

  it('the settled report is check\'s findings plus, once each, the findings the applied plan raises; a --waive applies to those too', () => {
    const {facts, topology} = caseInput({
      sysctl: {'net.ipv4.ip_local_port_range': '40000 40999'},
      flow: {role: 'client', qps: 100, closes_first: 'client'},
    })
    const report = evaluateHost(facts, topology, rules)
    const ids = (r: {findings: {id: string; flow?: string}[]}) => r.findings.map((f) => `${f.id}:${f.flow ?? ''}`)
    expect(ids(report)).toEqual(['client-port-exhaustion:case-0', 'keepalive-off:case-0'])
    // The widened range leaves connect() scanning its first-parity ports: the scan's finding joins.
    expect(ids(settleReport(report, {facts, topology, rules}))).toEqual(['client-port-exhaustion:case-0', 'keepalive-off:case-0', 'client-connect-scan:case-0'])
    expect(ids(settleReport(report, {facts, topology, rules, waive: ['client-connect-scan']}))).toEqual(['client-port-exhaustion:case-0', 'keepalive-off:case-0'])
  })
})
