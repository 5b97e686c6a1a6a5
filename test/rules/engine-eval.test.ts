// The engine around a rule that goes wrong at run time (a CEL error, a `when` that is not a
// boolean, evidence that cannot be computed) and the way a remedy's flow template becomes data.
// Custom rules in a scratch folder, through the public entry (evaluateHost).
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {TwError} from '../../src/errors.js'
import {evaluateHost, type RemedyTrial} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import type {Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'
import {writeRule} from './rule-file.js'

const facts = {source: 'dump.txt', kernel: parseKernel('6.8.0'), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_timestamps': '1'}, counters: {}}
const busy = makeFlow({name: 'busy', role: 'client', qps: 600, closes_first: 'client'})
const calm = makeFlow({name: 'calm', role: 'client', qps: 10, closes_first: 'client'})
const topo: Topology = {file: 't.yaml', waivers: [], flows: [busy, calm]}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-eval-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function rule(fields: {when?: string; evidence?: string; remedies?: string[]; applies_to?: string; message?: string}): ReturnType<typeof loadRules>[number] {
  writeRule(dir, {...fields, id: 'r', when: fields.when ?? 'flow.qps > 100.0', message: JSON.stringify(fields.message ?? '{{ flow.qps }}/s')})
  return loadRules(dir)[0]!
}

function evalError(r: ReturnType<typeof rule>): TwError {
  try {
    evaluateHost(facts, topo, [r])
  } catch (error) {
    if (error instanceof TwError) return error
    throw error
  }
  throw new Error('evaluated')
}

describe('a rule that fails at run time', () => {
  it('a CEL error in `when` names the rule file and the field', () => {
    const e = evalError(rule({when: 'flow.nosuch > 1.0'}))
    expect(e.code).toBe('rules.eval')
    expect(e.message).toMatch(/^cannot evaluate when: /)
    expect(e.position).toEqual({file: join(dir, 'r.yaml'), field: 'when'})
  })

  it('a `when` that is not a boolean says what it gave', () => {
    const e = evalError(rule({when: 'flow.qps'}))
    expect(e.code).toBe('rules.eval')
    expect(e.message).toBe('"when" must be true or false, got 600')
    expect(e.position).toEqual({file: join(dir, 'r.yaml'), field: 'when'})
  })

  it('evidence that cannot be computed names the expression', () => {
    const e = evalError(rule({evidence: '[flow.qps, flow.nosuch]'}))
    expect(e.message).toMatch(/^cannot evaluate evidence "flow.nosuch": /)
    expect(e.position.field).toBe('evidence "flow.nosuch"')
  })

  it('a remedy condition that fails names remedies.when', () => {
    const e = evalError(rule({remedies: ['  - flow: {qps: "50"}', '    why: w', '    when: flow.nosuch']}))
    expect(e.position.field).toBe('remedies.when')
  })
})

describe('a remedy\'s flow template becomes data', () => {
  it('"true"/"false" booleans, decimals and negatives numbers, "lo hi" a range, anything else a string', () => {
    const r = rule({
      remedies: [
        '  - flow: {qps: "{{ flow.qps / 12.0 }}", keepalive: "true", bind_before_connect: "false", client_port_range: "1024 65535", name: "{{ flow.name + \'-2\' }}", harm_budget: "-1.5"}',
        '    why: "{{ flow.qps }} is too many"',
        '    action: "pool {{ flow.name }}"',
      ],
    })
    const trials: RemedyTrial[] = []
    const report = evaluateHost(facts, topo, [r], {onRemedy: (t) => trials.push(t), judgeOnHost: false})
    expect(report.findings.map((f) => f.flow)).toEqual(['busy'])
    const [remedy] = report.findings[0]!.remedies
    // 600 / 12 = 50 (raw template output "50"), below the rule's 100/s: the finding clears.
    expect(remedy!.flow).toEqual({qps: 50, keepalive: true, bind_before_connect: false, client_port_range: [1024, 65535], name: 'busy-2', harm_budget: -1.5})
    expect(remedy!.why).toBe('600 is too many')
    expect(remedy!.action).toBe('pool busy')
    expect(remedy!.after).toEqual({qps: 50})
    expect(remedy!.sysctl).toBeUndefined()
    expect(trials).toEqual([{rule: 'r', flow: 'busy', sets: ['qps', 'keepalive', 'bind_before_connect', 'client_port_range', 'name', 'harm_budget'], outcome: 'offered'}])
  })

  it('a decimal stays a number (12.5), a remedy that does not clear the finding is rejected', () => {
    const r = rule({remedies: ['  - flow: {qps: "{{ flow.qps / 48.0 }}"}', '    why: w', '  - flow: {qps: "{{ flow.qps / 2.0 }}"}', '    why: w']})
    const trials: RemedyTrial[] = []
    const report = evaluateHost(facts, topo, [r], {onRemedy: (t) => trials.push(t), judgeOnHost: false})
    expect(report.findings[0]!.remedies.map((x) => x.flow)).toEqual([{qps: 12.5}])
    expect(trials.map((t) => t.outcome)).toEqual(['offered', 'rejected'])
  })

  it('a host rule runs once, without a flow', () => {
    const r = rule({applies_to: 'host', when: 'size(flows) == 2', evidence: '[host.flowCount]', message: '{{ host.flowCount }} flows'})
    const report = evaluateHost(facts, topo, [r], {judgeOnHost: false})
    expect(report.findings).toHaveLength(1)
    expect(report.findings[0]!.flow).toBeUndefined()
    expect(report.findings[0]!.evidence).toEqual({flowCount: 2})
    expect(report.findings[0]!.message).toBe('2 flows')
  })
})

describe('which flows a rule sees, and evidence that is not a finite number', () => {
  it('a rule for one role is not evaluated on flows of another (the flows here are clients)', () => {
    expect(evaluateHost(facts, topo, [rule({applies_to: 'server'})]).findings).toEqual([])
    expect(evaluateHost(facts, topo, [rule({applies_to: 'any'})]).findings.map((f) => f.flow)).toEqual(['busy'])
  })

  it('evidence that is infinite is null in the report (JSON has no infinity)', () => {
    const f = evaluateHost(facts, topo, [rule({evidence: '[flow.qps / 0.0, flow.qps]'})]).findings[0]!
    expect(f.evidence).toEqual({'flow.qps / 0.0': null, qps: 600})
  })
})

describe('the report\'s order and its messages', () => {
  function rulesOf(specs: {id: string; severity: string; when?: string}[]) {
    for (const {id, severity, when} of specs) writeRule(dir, {id, severity, when: when ?? 'flow.qps > 1.0'})
    return loadRules(dir)
  }

  it('findings come most severe first, then by rule id, then by flow name', () => {
    const zeta = makeFlow({name: 'zeta', role: 'client', qps: 600, closes_first: 'client'})
    const alpha = makeFlow({name: 'alpha', role: 'client', qps: 600, closes_first: 'client'})
    const rules = rulesOf([
      {id: 'a-info', severity: 'info'},
      {id: 'b-warning', severity: 'warning'},
      {id: 'z-critical', severity: 'critical'},
      {id: 'c-warning', severity: 'warning'},
    ])
    const r = evaluateHost(facts, {file: 't.yaml', waivers: [], flows: [zeta, alpha]}, rules, {judgeOnHost: false})
    expect(r.findings.map((f) => `${f.id}:${f.flow}`)).toEqual([
      'z-critical:alpha',
      'z-critical:zeta',
      'b-warning:alpha',
      'b-warning:zeta',
      'c-warning:alpha',
      'c-warning:zeta',
      'a-info:alpha',
      'a-info:zeta',
    ])
    // Flows already in name order stay so (a tie-break that ignored the flow would reverse them).
    const mid = makeFlow({name: 'mid', role: 'client', qps: 600, closes_first: 'client'})
    const inOrder = evaluateHost(facts, {file: 't.yaml', waivers: [], flows: [alpha, mid, zeta]}, [rules.find((r) => r.id === 'a-info')!], {judgeOnHost: false})
    expect(inOrder.findings.map((f) => f.flow)).toEqual(['alpha', 'mid', 'zeta'])
  })

  it('a message prints numbers for people (6,000, not 6000)', () => {
    const f = evaluateHost(facts, topo, [rule({message: '{{ flow.qps * 10.0 }} connects/s'})]).findings[0]!
    expect(f.message).toBe('6,000 connects/s')
  })
})

describe('the flow a rule sees', () => {
  it('is the declaration with behind_nat: whether it names a NAT', () => {
    const r = rule({applies_to: 'any', when: 'flow.behind_nat', evidence: '[flow.behind_nat]'})
    const natted = makeFlow({name: 'natted', role: 'client', qps: 10, nat: {port_range: [1024, 65535]}})
    const direct = makeFlow({name: 'direct', role: 'client', qps: 10})
    const report = evaluateHost(facts, {file: 't.yaml', waivers: [], flows: [direct, natted]}, [r], {judgeOnHost: false})
    expect(report.findings.map((f) => [f.flow, f.evidence])).toEqual([['natted', {behind_nat: true}]])
  })
})
