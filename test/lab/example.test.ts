/**
 * The code paths behind the README's headline command, `lab --example --scale auto`, without
 * root: which flow it picks, how it scales, how long it measures, and which remedy it applies
 * (the rules' verified ranking, the only one). Issue 13: none of this was under test.
 */
import {describe, expect, it} from 'vitest'

import {resolveInputs} from '../../src/inputs.js'
import {planLab, SCALED_PHASE_SECONDS} from '../../src/lab/plan.js'
import {predictStallShare} from '../../src/lab/predict.js'
import * as remedyModule from '../../src/lab/remedy.js'
import {labCanApply, topRemedy} from '../../src/lab/remedy.js'
import {decideSeconds, MAX_EXTENSIONS, phaseLengths} from '../../src/lab/run.js'
import {selectFlow} from '../../src/lab/select.js'
import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {facts, flow} from './helpers.js'

const example = async () => {
  const {facts: fx, topology} = await resolveInputs({example: true})
  return {fx, topology}
}

describe('lab --example --scale auto', () => {
  it('picks api-to-php (the first flow the model says breaks) and scales 600/s to the driver\'s 400/s', async () => {
    const {fx, topology} = await example()
    const {flow: f, why} = selectFlow(topology, fx)
    expect(f.name).toBe('api-to-php')
    expect(why).toMatch(/breaks/)
    const plan = planLab(f, fx, {scale: 'auto'})
    expect(plan.scaled?.factor).toBeCloseTo(400 / 600, 4)
    expect(plan.flow.qps).toBeCloseTo(400)
    // 28,232 ports x 2/3 = 18,821.3, rounded up to an even 18,822: 32768-51589.
    expect(plan.flow.nat?.port_range).toEqual([32768, 51589])
    expect(plan.clients).toHaveLength(8)
    expect(plan.sysctls.server['net.ipv4.tcp_rfc1337']).toBe('1')
  })

  it('applies the first verified remedy the rules rank for the flow, never one of its own', async () => {
    const {fx, topology} = await example()
    const f = topology.flows.find((x) => x.name === 'api-to-php')!
    const plan = planLab(f, fx, {scale: 'auto'})
    const remedy = await topRemedy(plan.flow, plan.facts, '6.18')
    expect(remedy).not.toBeNull()
    // The same remedy, in the same order, as `check` lists for the flow (first one the lab can apply).
    const report = evaluateHost(plan.facts, {file: 'lab', waivers: [], flows: [plan.flow], kernel: '6.18'}, loadRules())
    const first = report.findings.filter((x) => x.flow === plan.flow.name).flatMap((x) => x.remedies.map((r) => ({id: x.id, r}))).find(({r}) => labCanApply(r))!
    expect(remedy!.source).toBe(`rule ${first.id}`)
    expect(remedy!.sysctl ?? {}).toEqual(first.r.sysctl ?? {})
    expect(remedy!.sysctl?.['net.ipv4.tcp_rfc1337']).not.toBe('1')
    expect('modelRemedy' in remedyModule).toBe(false)
  })

  it('has nothing to apply when the rules find nothing: the lab then runs one phase', async () => {
    const quiet = flow({name: 'quiet', role: 'client', qps: 5, closes_first: 'server'})
    expect(await topRemedy(quiet, facts({}), '6.18')).toBeNull()
  })

  it('warms up to the steady state and sizes the window to decide, within the --scale cap', async () => {
    const {fx, topology} = await example()
    const plan = planLab(topology.flows.find((x) => x.name === 'api-to-php')!, fx, {scale: 'auto'})
    const pred = predictStallShare(plan.flow, plan.facts, '6.18')
    const l = phaseLengths(pred, plan.flow.qps, {scaled: true})
    // A NAT tuple comes back after 18,822 / 400 = 47 s: the warm-up covers it (+1 s).
    expect(l.warmupSeconds).toBe(49)
    expect(l.windowSeconds).toBe(decideSeconds(pred.stall_share, pred.harm_budget, plan.flow.qps))
    expect(l.windowSeconds).toBeLessThanOrEqual(SCALED_PHASE_SECONDS)
    expect(l.note).toBeNull()
  })

  it('judges "phase too short" on the window it runs (the --scale cap), not on --duration', () => {
    // A share of about zero at 100/s needs 4.5 / 0.001 = 4,500 attempts: 45 s.
    const pred = predictStallShare(flow({role: 'client', qps: 100, closes_first: 'server'}), facts({}), '6.18')
    expect(decideSeconds(pred.stall_share, pred.harm_budget, 100)).toBe(45)
    const scaled = phaseLengths(pred, 100, {scaled: true, phaseSeconds: 60})
    expect(scaled.windowSeconds).toBe(SCALED_PHASE_SECONDS)
    expect(scaled.note).toContain(`phase too short: a window of ${SCALED_PHASE_SECONDS} s (asked 60 s, capped at ${SCALED_PHASE_SECONDS} s with --scale)`)
    expect(scaled.note).toContain(`up to ${MAX_EXTENSIONS} more windows`)
    // Unscaled, 60 s is run as asked and is long enough: no note.
    expect(phaseLengths(pred, 100, {scaled: false, phaseSeconds: 60})).toMatchObject({windowSeconds: 60, note: null})
    // Unscaled but short: the note, without a cap to blame.
    expect(phaseLengths(pred, 100, {scaled: false, phaseSeconds: 10}).note).toMatch(/^phase too short: a window of 10 s is under the 45 s/)
  })
})
