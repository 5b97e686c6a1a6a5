import {BaseCommand} from '../cli/base.js'

export default class Rules extends BaseCommand {
  static summary = 'List the rules: id, severity, what they apply to, title'
  static examples = ['<%= config.bin %> rules', '<%= config.bin %> rules --json']
  static enableJsonFlag = true

  async run(): Promise<{rules: {id: string; severity: string; applies_to: string; title: string}[]}> {
    await this.parse(Rules)
    const {loadRules} = await import('../rules/load.js')
    const rules = loadRules().map((r) => ({id: r.id, severity: r.severity, applies_to: r.applies_to, title: r.title}))
    if (!this.jsonEnabled()) {
      const w = Math.max(...rules.map((r) => r.id.length))
      for (const r of rules) this.log(`${r.id.padEnd(w)}  ${r.severity.padEnd(8)}  ${r.applies_to.padEnd(6)}  ${r.title}`)
      this.log(`\n${rules.length} rules. Details: twadvisor explain ID`)
    }
    return {rules}
  }
}
