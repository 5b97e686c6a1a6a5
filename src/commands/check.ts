import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import type {FleetResult} from '../fleet.js'
import {INPUT_USAGE, inputFlags, resolveInputs} from '../inputs.js'

export default class Check extends BaseCommand {
  static summary = 'Evaluate a host against its declared traffic: what will break, why, and what to change'
  static description = `Reads the host's sysctls (live /proc/sys, a \`sysctl -a\` dump, or a network namespace), takes the flows declared in the topology file, runs the model of what the kernel does with TIME_WAIT and source ports, and reports findings with their arithmetic and the remedies the model verified.

Exit codes: 0 nothing at or above --fail-on, 2 findings at or above it, 1 bad input or failure.`

  static usage = [
    `check ${INPUT_USAGE} [-f text|json|sarif] [--fail-on info|warning|critical] [--waive ID[:flow]...] [--json]`,
    'check --hosts DIR [-f text|json|sarif] [--fail-on info|warning|critical] [--waive ID[:flow]...] [--json]',
  ]

  static examples = [
    '<%= config.bin %> check --example',
    '<%= config.bin %> check -t topology.yaml',
    'sysctl -a | <%= config.bin %> check -t topology.yaml --sysctl-file -',
    '<%= config.bin %> check -t topology.yaml --format sarif > twadvisor.sarif',
    '<%= config.bin %> check --hosts facts/ --format json',
  ]

  static enableJsonFlag = true

  static flags = {
    ...inputFlags,
    hosts: Flags.string({description: 'evaluate many hosts: DIR holds one folder per host (sysctl.txt, topology.yaml, optional netstat.txt/snmp.txt)', helpValue: 'DIR', exclusive: ['topology', 'sysctl-file', 'netns', 'example']}),
    format: Flags.string({char: 'f', description: 'output format', options: ['text', 'json', 'sarif'], default: 'text'}),
    'fail-on': Flags.string({description: 'exit 2 when a finding is at or above this severity', options: ['info', 'warning', 'critical'], default: 'critical'}),
    discover: Flags.boolean({description: 'discover the flows from the live host (or --netns) instead of a topology file (see `twadvisor discover`)', exclusive: ['topology', 'hosts', 'example', 'sysctl-file']}),
    interval: Flags.integer({description: 'with --discover: seconds to watch', default: 10, min: 1, max: 3600}),
    waive: Flags.string({description: 'waive a rule, or a rule for one flow (ID or ID:flow); repeatable', helpValue: 'ID[:flow]', multiple: true}),
  }

  async run(): Promise<Record<string, unknown>> {
    const {flags} = await this.parse(Check)
    const {exitCodeFor} = await import('../rules/report.js')
    const failOn = flags['fail-on'] as 'info' | 'warning' | 'critical'

    let result: Pick<FleetResult, 'report' | 'rules' | 'locations'>
    if (flags.hosts) {
      const {checkFleet} = await import('../fleet.js')
      const {fleetProgress} = await import('../render/progress.js')
      const progress = fleetProgress()
      try {
        result = await checkFleet(flags.hosts, {waive: flags.waive, onProgress: progress.update})
      } finally {
        progress.done()
      }
    } else {
      const {checkHosts, locationOf} = await import('../check.js')
      let input
      if (flags.discover) {
        const {runDiscover} = await import('../discover/run.js')
        const tty = Boolean(process.stderr.isTTY) && !this.jsonEnabled()
        const d = await runDiscover({interval: flags.interval, netns: flags.netns}, tty ? (s) => process.stderr.write(`\r\u001B[K${s}`) : undefined)
        if (tty) process.stderr.write('\r\u001B[K')
        input = {facts: d.facts, topology: d.topology}
      } else input = await resolveInputs(flags)
      const {report, rules} = checkHosts([input], {waive: flags.waive})
      result = {report, rules, locations: [locationOf(input, report.hosts[0]!.host)]}
    }
    const {report, rules, locations} = result
    const code = exitCodeFor(report, failOn)
    process.exitCode = code

    const {toJsonReport} = await import('../render/json.js')
    const json = toJsonReport(report)
    if (this.jsonEnabled()) return json
    // stdout.write, not this.log: console.log formats its argument, which costs seconds for a 30 MB report.
    if (flags.format === 'json') process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    else if (flags.format === 'sarif') {
      const {toSarif} = await import('../render/sarif.js')
      // By position, not by name: two host folders may carry the same host: label (locations
      // follow report.hosts in order; unread hosts come last and have none).
      process.stdout.write(`${JSON.stringify(toSarif(report, rules, this.config.version, (_h, i) => locations[i]), null, 2)}\n`)
    } else {
      const {renderText} = await import('../render/text.js')
      process.stdout.write(`${renderText(report, {failOn, exitCode: code})}\n`)
    }
    return json
  }
}
