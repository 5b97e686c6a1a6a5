// A rule file for a test's scratch rules folder (loadRules(dir)): one writer for every test that
// needs rules of its own, with what they vary and defaults for the rest.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

export interface RuleFields {
  id: string
  when: string
  severity?: string
  applies_to?: string
  /** Kernel-fact ids the rule is gated on. */
  facts?: string[]
  /** A YAML scalar as written (quote it: JSON.stringify). */
  message?: string
  evidence?: string
  /** The lines under `remedies:`, indented as in a rule file. */
  remedies?: string[]
}

/** Writes DIR/ID.yaml. */
export function writeRule(dir: string, f: RuleFields): void {
  writeFileSync(
    join(dir, `${f.id}.yaml`),
    [
      `id: ${f.id}`,
      'title: t',
      `severity: ${f.severity ?? 'warning'}`,
      `applies_to: ${f.applies_to ?? 'client'}`,
      ...(f.facts?.length ? [`facts: [${f.facts.join(', ')}]`] : []),
      `when: ${JSON.stringify(f.when)}`,
      `message: ${f.message ?? 'm'}`,
      `evidence: ${f.evidence ?? '[flow.qps]'}`,
      ...(f.remedies ? ['remedies:', ...f.remedies] : []),
      'explanation: e',
      'references: [x]',
      'cases:',
      // Not run (test/rules/cases.test.ts runs the shipped rules' cases); the schema wants one each.
      '  fires: [{flow: {qps: 600}}]',
      '  passes: [{flow: {qps: 1}}]',
      '',
    ].join('\n'),
  )
}
