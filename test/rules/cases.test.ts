// Every rule file carries its own cases (ESLint-style valid/invalid): a minimal host + flow that
// must fire the rule and ones that must not. This one test runs them all, so a rule without
// cases, or whose cases stop holding, fails the suite.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {RELEVANT_COUNTERS, RELEVANT_KEYS} from '../../src/facts/keys.js'

import {evaluateHost, type RemedyTrial} from '../../src/rules/engine.js'
import {loadRules, RULES_DIR} from '../../src/rules/load.js'
import {caseInput} from './case-input.js'

const rules = loadRules()

describe('every rule proves itself with its own cases', () => {
  it('the rule set is not empty', () => {
    expect(rules.length).toBeGreaterThan(0)
  })
  it('some case proves a remedy rejected by the re-check, and some a remedy offered', () => {
    const cases = rules.flatMap((r) => r.cases.fires)
    expect(cases.some((c) => (c.rejects ?? []).length > 0)).toBe(true)
    expect(cases.some((c) => (c.offers ?? []).length > 0)).toBe(true)
  })
  for (const rule of rules) {
    describe(rule.id, () => {
      rule.cases.fires.forEach((c, i) => {
        it(`fires: case ${i + 1}`, () => {
          const {facts, topology} = caseInput(c)
          const trials: RemedyTrial[] = []
          const report = evaluateHost(facts, topology, [rule], {onRemedy: (t) => trials.push(t)})
          expect(report.findings.map((f) => f.id)).toContain(rule.id)
          // A remedy named by what it sets; `rejects` means its `when` held and the re-run model
          // still fired the rule, so it must not be offered.
          const outcomes = (name: string) => trials.filter((t) => t.sets.includes(name)).map((t) => t.outcome)
          for (const name of c.offers ?? []) expect(outcomes(name), `offers ${name}`).toContain('offered')
          for (const name of c.rejects ?? []) {
            expect(outcomes(name), `rejects ${name}`).toContain('rejected')
            expect(outcomes(name), `rejects ${name}`).not.toContain('offered')
          }
          const offered = new Set(report.findings.flatMap((f) => f.remedies.flatMap((r) => [...Object.keys(r.sysctl ?? {}), ...Object.keys(r.flow ?? {})])))
          for (const name of c.rejects ?? []) expect([...offered], `rejected ${name} is not in the report`).not.toContain(name)
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

describe('rules read only what every source provides', () => {
  // A live read opens RELEVANT_KEYS under /proc/sys, and a fleet run keeps those keys and
  // RELEVANT_COUNTERS of each host: a rule naming anything else would see it on one path only.
  const texts = readdirSync(RULES_DIR)
    .filter((n) => n.endsWith('.yaml'))
    .map((n) => [n, readFileSync(join(RULES_DIR, n), 'utf8')] as const)

  it('every counter a rule names is in RELEVANT_COUNTERS', () => {
    const named = texts.flatMap(([n, t]) => [...t.matchAll(/counters(?:\[\s*['"]([A-Za-z]+)['"]\s*\]|\.([A-Za-z]+))/g)].map((m) => `${n}: ${m[1] ?? m[2]}`))
    expect(named.length).toBeGreaterThan(0)
    for (const entry of named) expect(RELEVANT_COUNTERS as readonly string[], entry).toContain(entry.split(': ')[1])
  })

  it('every sysctl a rule reads or sets is in RELEVANT_KEYS', () => {
    const read = texts.flatMap(([n, t]) => [...t.matchAll(/sysctl(?:\[\s*['"]([a-z0-9_.]+)['"]\s*\]|\.([a-z0-9_]+(?:\.[a-z0-9_]+)+))/g)].map((m) => `${n}: ${m[1] ?? m[2]}`))
    const set = rules.flatMap((r) => r.remedies.flatMap((s) => Object.keys(s.sysctl ?? {}).map((k) => `${r.id}: ${k}`)))
    expect(set.length).toBeGreaterThan(0)
    for (const entry of [...read, ...set]) expect(RELEVANT_KEYS as readonly string[], entry).toContain(entry.split(': ')[1])
  })
})

describe('the kernel notes the rules cite are in the repository', () => {
  const notes = readFileSync(join(RULES_DIR, '..', 'docs', 'kernel.md'), 'utf8')
  // GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to dashes.
  const anchors = new Set([...notes.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')))

  it('no rule cites a KERNEL.md the repository does not have', () => {
    for (const r of rules) expect(r.references.filter((ref) => /KERNEL\.md/.test(ref)), r.id).toEqual([])
  })

  it('every docs/kernel.md#section a rule cites is a heading there', () => {
    const cited = rules.flatMap((r) => r.references.flatMap((ref) => [...ref.matchAll(/docs\/kernel\.md#([\w-]+)/g)].map((m) => `${r.id}: ${m[1]}`)))
    expect(cited.length).toBeGreaterThan(5)
    for (const c of cited) expect([...anchors], c).toContain(c.split(': ')[1])
  })
})
