import {Args} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {TwError} from '../errors.js'

export default class Explain extends BaseCommand {
  static summary = "Print one rule in full: condition, remedies, explanation and references"
  static examples = ['<%= config.bin %> explain server-tw-collision-shared']
  static enableJsonFlag = true
  static args = {id: Args.string({description: 'rule id (see `twadvisor rules`)', required: true})}

  async run(): Promise<Record<string, unknown>> {
    const {args} = await this.parse(Explain)
    const {loadRules} = await import('../rules/load.js')
    const {nearest} = await import('../util/nearest.js')
    const rules = loadRules()
    const rule = rules.find((r) => r.id === args.id)
    if (!rule) {
      const guess = nearest(args.id, rules.map((r) => r.id))
      throw new TwError('explain.unknown', `no rule "${args.id}"`, {hint: guess ? `did you mean "${guess}"?` : 'list them with `twadvisor rules`'})
    }
    const {compiled: _c, cases: _k, ...shown} = rule
    if (!this.jsonEnabled()) {
      this.log(`${rule.id} — ${rule.title}`)
      this.log(`severity: ${rule.severity} · applies to: ${rule.applies_to} · file: ${rule.file}`)
      this.log(`\nfires when:\n  ${rule.when}`)
      this.log(`\n${rule.explanation.trim()}`)
      if (rule.remedies.length) {
        this.log('\nremedies, in order (each offered only when the model re-run with it clears the finding):')
        rule.remedies.forEach((r, i) => {
          const what = r.sysctl ? Object.entries(r.sysctl).map(([k, v]) => `${k} = ${v}`).join(', ') : r.action ?? JSON.stringify(r.flow)
          this.log(`  ${i + 1}. ${what}\n     ${r.why}`)
        })
      }
      this.log(`\nreferences:\n${rule.references.map((r) => `  - ${r}`).join('\n')}`)
    }
    return shown as unknown as Record<string, unknown>
  }
}
