import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {INPUT_USAGE, inputFlags, resolveInputs} from '../inputs.js'

const TARGETS = ['sysctl.d', 'ansible', 'k8s', 'tuned'] as const

export default class Generate extends BaseCommand {
  static description = `Write the sysctl remedies for this host as config: an /etc/sysctl.d file (default), Ansible vars, a pod securityContext or a tuned profile

Same inputs as check. Prints to stdout unless --output FILE, which is written atomically (mode 0644), never through a symlink and never over a file twadvisor did not write unless --force (a backup is kept). --diff and --check never write; --check exits 2 when FILE would change. --apply (root) loads the file with sysctl -p (inside --netns NAME when given) and says which file wins at boot.`

  static usage = [
    `generate ${INPUT_USAGE} [--target sysctl.d|ansible|k8s|tuned] [-o FILE] [--force] [--apply | --diff | --check] [--waive ID[:flow]...] [--json]`,
  ]

  static examples = [
    '<%= config.bin %> generate --example',
    '<%= config.bin %> generate -t topology.yaml --output /etc/sysctl.d/60-twadvisor.conf --diff',
    '<%= config.bin %> generate -t topology.yaml --output /etc/sysctl.d/60-twadvisor.conf --check',
    'sudo <%= config.bin %> generate -t topology.yaml --output /etc/sysctl.d/60-twadvisor.conf --apply',
    '<%= config.bin %> generate -t topology.yaml --target k8s',
  ]

  static enableJsonFlag = true

  static flags = {
    ...inputFlags,
    target: Flags.string({description: 'what to write', options: [...TARGETS], default: 'sysctl.d'}),
    output: Flags.string({char: 'o', description: 'write this file (atomically) instead of stdout', helpValue: 'FILE'}),
    force: Flags.boolean({description: 'overwrite a file twadvisor did not write, keeping it as FILE.twadvisor-bak (numbered .1, .2, ... when taken)'}),
    diff: Flags.boolean({description: 'print a unified diff against --output FILE; write nothing'}),
    check: Flags.boolean({description: 'exit 2 when --output FILE would change, 0 when current; write nothing'}),
    apply: Flags.boolean({description: 'root: load the written file with sysctl -p and report each key', exclusive: ['diff', 'check']}),
    waive: Flags.string({description: 'waive a rule, or a rule for one flow (ID or ID:flow); repeatable', helpValue: 'ID[:flow]', multiple: true}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Generate)
    const {facts, topology} = await resolveInputs(flags)
    const [{checkHosts}, {settleReport}, {generate}, {summaryLines}, {writableKeys}] = await Promise.all([
      import('../check.js'),
      import('../generate/settle.js'),
      import('../generate/run.js'),
      import('../generate/summary.js'),
      import('../generate/carry.js'),
    ])
    const waive = flags.waive ?? []
    const checked = checkHosts([{facts, topology}], {waive})
    // The remedies and what they lead to, so the file does not need a second round.
    const report = settleReport(checked.report.hosts[0]!, {facts, topology, rules: checked.rules, waive})
    const result = await generate({
      report,
      facts,
      topologyFile: topology.file,
      target: flags.target as (typeof TARGETS)[number],
      output: flags.output,
      force: flags.force,
      diff: flags.diff,
      check: flags.check,
      apply: flags.apply,
      netns: flags.netns,
      rules: checked.rules,
    })
    const failed = result.apply?.keys.filter((k) => !k.ok) ?? []
    if (this.jsonEnabled()) {
      const body = {
        host: result.plan.host,
        target: result.target,
        entries: result.plan.entries,
        notSysctl: result.plan.notSysctl,
        betterRemedy: result.plan.betterRemedy,
        warnings: result.warnings,
        text: result.text,
        ...(result.output === undefined ? {} : {output: result.output, changed: result.changed}),
        ...(result.diff === undefined ? {} : {diff: result.diff}),
        ...(result.carried ? {carried: result.carried} : {}),
        // The keys twadvisor may write at all: the Ansible role carries nothing else over.
        writableKeys: writableKeys(checked.rules),
        ...(result.dropped ? {dropped: result.dropped} : {}),
        ...(result.write ? {write: result.write} : {}),
        ...(result.apply ? {apply: result.apply, boot: result.boot, bootName: result.bootName} : {}),
      }
      if (result.exitCode === 0 && failed.length === 0) return body
      this.logJson(body)
      return this.exit(failed.length > 0 ? 1 : result.exitCode)
    }
    for (const w of result.warnings) process.stderr.write(`twadvisor: warning: ${w}\n`)
    if (result.output === undefined) process.stdout.write(result.text)
    if (result.diff) process.stdout.write(result.diff)
    for (const line of summaryLines(result)) this.log(line)
    if (failed.length > 0) {
      const {TwError} = await import('../errors.js')
      throw new TwError('apply.failed', `${failed.length} key(s) did not take effect: ${failed.map((k) => k.key).join(', ')}`, {position: {file: result.output}})
    }
    if (result.exitCode !== 0) return this.exit(result.exitCode)
    return undefined
  }
}
