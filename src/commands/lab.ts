import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {inputFlags, resolveInputs} from '../inputs.js'

export default class Lab extends BaseCommand {
  static summary = 'Rebuild a flow in network namespaces on this kernel and measure it, before and after the top remedy (root)'
  static description = `Builds one client namespace per sender (up to 8), a router namespace (SNAT with nftables when the flow has NAT or more senders than addresses), and a server namespace, over veth links in 198.18.0.0/15. The host's sysctls go to the namespace that plays its role. A Node client opens short connections at the declared rate and records every attempt; the server closes first or waits for the client, as declared. Then the top remedy is applied and the run repeated. Reports failures by kind, slow connects (> 500 ms), connect latency and the kernel counters of each namespace, beside the model's prediction.

Needs root, iproute2 and nftables. Namespaces are named twlab-<pid>-...; they and the driver processes are removed on every exit, and a run removes those a killed run left behind.`

  static examples = [
    '<%= config.bin %> lab --example --scale auto',
    '<%= config.bin %> lab -t topology.yaml --flow api --scale 0.1 --json',
    '<%= config.bin %> lab -t topology.yaml --remedy net.ipv4.tcp_tw_reuse=1',
  ]

  static enableJsonFlag = true

  static flags = {
    ...inputFlags,
    flow: Flags.string({description: 'the flow to rebuild (default: the first the model says breaks)', helpValue: 'NAME'}),
    scale: Flags.string({description: 'shrink port ranges and rates together by FACTOR (0-1], or "auto" to fit the driver: phases of at most 22 s (a run within 60 s), longer only when a port or tuple takes longer to come back, as the report says', helpValue: 'auto|FACTOR'}),
    duration: Flags.integer({description: 'seconds of traffic per phase (default: long enough for a port or tuple to come back, 10-68 s; at most 22 with --scale)', min: 2, max: 600}),
    fidelity: Flags.boolean({description: 'run the fidelity matrix instead (src/lab/scenarios.ts: the model\'s predicted stall share against this kernel, 3 scenarios at a time, a few minutes); exit 2 when one disagrees', exclusive: ['flow', 'scale', 'duration', 'remedy']}),
    remedy: Flags.string({description: 'apply this sysctl on the host\'s namespace for the second phase instead of the top remedy; "none" runs one phase; repeatable', helpValue: 'KEY=VALUE', multiple: true}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Lab)
    const {preflight} = await import('../lab/system.js')
    preflight()
    if (flags.fidelity) return this.fidelity()
    const {facts, topology} = await resolveInputs(flags)
    const {selectFlow} = await import('../lab/select.js')
    const {parseRemedyArgs} = await import('../lab/remedy.js')
    const {runLab} = await import('../lab/run.js')
    const {progressReporter} = await import('../lab/progress.js')
    const {flow, why} = selectFlow(topology, facts, flags.flow)
    const remedyArgs = flags.remedy ?? []
    const remedy = remedyArgs.includes('none') ? 'none' : (parseRemedyArgs(remedyArgs) ?? 'top')
    const scale = flags.scale === undefined ? undefined : flags.scale === 'auto' ? 'auto' : Number(flags.scale)
    const progress = progressReporter()
    progress.onStep(`flow "${flow.name}" (${why})`)
    let report
    try {
      report = await runLab({flow, facts, remedy, scale, phaseSeconds: flags.duration, ...progress})
    } finally {
      progress.done()
    }
    if (this.jsonEnabled()) return report
    const {renderLabText} = await import('../lab/report.js')
    process.stdout.write(renderLabText(report))
    return report
  }

  private async fidelity(): Promise<unknown> {
    const {release} = await import('node:os')
    const {runLab} = await import('../lab/run.js')
    const {runFidelity, fidelityTable, SCENARIOS} = await import('../lab/scenarios.js')
    const rows = await runFidelity(SCENARIOS, runLab, {
      concurrency: 3,
      onDone: (r) => process.stderr.write(`fidelity: ${r.id}: ${r.report.agrees ? 'agrees' : 'DISAGREES'} (${r.wall_seconds} s)\n`),
    })
    process.exitCode = rows.every((r) => r.report.agrees) ? 0 : 2
    const result = {kernel: release(), scenarios: rows.map((r) => ({id: r.id, title: r.title, wall_seconds: r.wall_seconds, ...r.report}))}
    if (!this.jsonEnabled()) process.stdout.write(fidelityTable(rows, release()))
    return result
  }
}
