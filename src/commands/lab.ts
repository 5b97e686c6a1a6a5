import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {INPUT_USAGE, inputFlags, resolveInputs} from '../inputs.js'

export default class Lab extends BaseCommand {
  static summary = 'Rebuild a flow in network namespaces on this kernel and measure it, before and after the top remedy (root)'
  static description = `Builds one client namespace per sender (up to 8), a router namespace (SNAT with nftables when the flow has NAT or more senders than addresses: masquerade, with the declared pool and nat.port_mode as preserve, random or fully-random), and a server namespace, over veth links in 198.18.0.0/15 (a loopback peer runs in one namespace over lo). The host's sysctls go to the namespace that plays its role. A Node client opens short connections at the declared rate and records every attempt; the server closes first or waits for the client, as declared.

Each phase warms up until the flow's mechanism is steady (up to 75 s), then measures a window sized to decide: a connect that fails or takes over 500 ms is a stall; the stall share's 95 % (Wilson) interval above the harm budget (0.1 %) is harmful, below it benign; otherwise up to 3 more windows, then inconclusive. The model's predicted stall share agrees when it lies within the interval widened by 2 each way and the verdicts match. Where the model says a tuple can get stuck (tcp_rfc1337=1 behind a port-preserving NAT), ports with 3 or more stalls each are counted apart where chance would not put 3 on one port: the share is judged on the other ports, and the stuck ones may cost at most 2 x their predicted share. Then the top remedy the rules verified is applied and the run repeated.

Needs root, iproute2 and nftables. With --uml the same lab runs inside a user-mode Linux kernel (a second kernel version, run as a process): needs the Debian packages user-mode-linux, kmod and iptables; the guest is bounded in time and memory and writes only to a scratch folder removed after the run. Namespaces are named twlab-<pid>-...; they and the driver processes are removed on every exit, and a run removes those a killed run left behind.`

  static usage = [
    `lab ${INPUT_USAGE} [--flow NAME] [--scale auto|FACTOR] [--duration SECONDS] [--remedy KEY=VALUE...] [--json]`,
  ]

  static examples = [
    '<%= config.bin %> lab --example --scale auto',
    '<%= config.bin %> lab -t topology.yaml --flow api --scale 0.1 --json',
    '<%= config.bin %> lab -t topology.yaml --remedy net.ipv4.tcp_tw_reuse=1',
  ]

  static enableJsonFlag = true

  static flags = {
    ...inputFlags,
    flow: Flags.string({description: 'the flow to rebuild (default: the first the model says breaks)', helpValue: 'NAME'}),
    scale: Flags.string({description: 'shrink port ranges and rates together by FACTOR (0-1], or "auto" to fit the driver; measured windows of at most 22 s (the report says when that is too short to decide)', helpValue: 'auto|FACTOR'}),
    duration: Flags.integer({description: 'seconds of each measured window (default: sized to decide the predicted verdict, 5-60 s; at most 22 with --scale); the warm-up comes before it', min: 2, max: 600}),
    fidelity: Flags.boolean({description: 'run the fidelity matrix instead (src/lab/scenarios.ts: the model\'s predicted stall share against this kernel, 3 scenarios at a time, a few minutes); exit 2 when one disagrees', exclusive: ['flow', 'scale', 'duration', 'remedy']}),
    uml: Flags.string({description: `run the lab inside a user-mode Linux kernel (default ${'/usr/bin/linux.uml'}, Debian's user-mode-linux: 6.1) instead of this one; the report's kernel is the guest's`, helpValue: '[PATH]'}),
    remedy: Flags.string({description: 'apply this sysctl on the host\'s namespace for the second phase instead of the top remedy; "none" runs one phase; repeatable', helpValue: 'KEY=VALUE', multiple: true}),
  }

  async run(): Promise<unknown> {
    // `--uml` takes an optional PATH: oclif flags cannot, so a bare --uml gets the default here.
    this.argv = withUmlDefault(this.argv)
    const {flags} = await this.parse(Lab)
    if (flags.fidelity) {
      const {preflight} = await import('../lab/system.js')
      preflight()
      return this.fidelity()
    }
    if (flags.uml === undefined) {
      const {preflight} = await import('../lab/system.js')
      preflight()
    } else {
      const {umlPreflight} = await import('../lab/uml.js')
      umlPreflight(flags.uml)
    }
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
      report = await runLab({flow, facts, remedy, scale, phaseSeconds: flags.duration, ...progress, ...(flags.uml === undefined ? {} : {uml: {binary: flags.uml}})})
    } finally {
      progress.done()
    }
    if (this.jsonEnabled()) return report
    const {renderLabText} = await import('../lab/report.js')
    process.stdout.write(renderLabText(report, {remedyOff: remedy === 'none'}))
    if ('uml' in report) {
      const u = (report as import('../lab/uml.js').UmlLabReport).uml
      process.stdout.write(`uml: ${u.binary}, kernel ${report.kernel}, boot to power-off ${u.boot_to_poweroff_seconds} s; the prediction's mechanism on this kernel: ${u.predicted_mechanism}; PAWS counters here: ${u.paws_counters.join(', ') || 'none'}\n`)
    }
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

const DEFAULT_UML = '/usr/bin/linux.uml'

/** A bare `--uml` (last, or followed by another flag) means the default kernel binary. */
export function withUmlDefault(argv: string[]): string[] {
  const out: string[] = []
  for (const [i, a] of argv.entries()) {
    out.push(a)
    const next = argv[i + 1]
    if (a === '--uml' && (next === undefined || next.startsWith('-'))) out.push(DEFAULT_UML)
  }
  return out
}
