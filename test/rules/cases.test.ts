// Every rule file carries its own cases (ESLint-style valid/invalid): a minimal host + flow that
// must fire the rule and ones that must not. This one test runs them all, so a rule without
// cases, or whose cases stop holding, fails the suite.
import {describe, expect, it} from 'vitest'

import {evaluateHost} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {caseInput} from './case-input.js'

const rules = loadRules()

describe('every rule proves itself with its own cases', () => {
  it('the rule set is not empty', () => {
    expect(rules.length).toBeGreaterThan(0)
  })
  for (const rule of rules) {
    describe(rule.id, () => {
      rule.cases.fires.forEach((c, i) => {
        it(`fires: case ${i + 1}`, () => {
          const {facts, topology} = caseInput(c)
          const report = evaluateHost(facts, topology, [rule])
          expect(report.findings.map((f) => f.id)).toContain(rule.id)
        })
      })
      rule.cases.passes.forEach((c, i) => {
        it(`stays quiet: case ${i + 1}`, () => {
          const {facts, topology} = caseInput(c)
          const report = evaluateHost(facts, topology, [rule])
          expect(report.findings.map((f) => f.id)).not.toContain(rule.id)
        })
      })
    })
  }
})
