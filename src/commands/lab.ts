import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {inputFlags, resolveInputs} from '../inputs.js'

export default class Lab extends BaseCommand {
  static summary = 'Rebuild a flow in network namespaces on this kernel and measure it, before and after the top remedy (root)'
  static description = `Builds one client namespace per sender (up to 8), a router namespace (SNAT with nftables when the flow has NAT or more senders than addresses), and a server namespace, over veth links in 198.18.0.0/15. The host's sysctls go to the namespace that plays its role. A Node client opens short connections at the declared rate and records every attempt; the server closes first or waits for the client, as declared. Then the top remedy is applied and the run repeated. Reports failures by kind, slow connects (> 500 ms), connect latency and the kernel counters of each namespace, beside the model's prediction.

Needs root, iproute2 and nftables. With --uml the same lab runs inside a user-mode Linux kernel (a second kernel version, run as a process): needs the Debian packages user-mode-linux, kmod and iptables; the guest is bounded in time and memory and writes only to a scratch folder removed after the run. Namespaces are named twlab-<pid>-...; they and the driver processes are removed on every exit, and a run removes those a killed run left behind.`

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
    uml: Flags.string({description: `run the lab inside a user-mode Linux kernel (default ${'/usr/bin/linux.uml'}, Debian's user-mode-linux: 6.1) instead of this one; the report's kernel is the guest's`, helpValue: '[PATH]'}),
    remedy: Flags.string({description: 'apply this sysctl on the host\'s namespace for the second phase instead of the top remedy; "none" runs one phase; repeatable', helpValue: 'KEY=VALUE', multiple: true}),
  }

  async run(): Promise<unknown> {
    // `--uml` takes an optional PATH: oclif flags cannot, so a bare --uml gets the default here.
    this.argv = withUmlDefault(this.argv)
    const {flags} = await this.parse(Lab)
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
    process.stdout.write(renderLabText(report))
    if ('uml' in report) {
      const u = (report as import('../lab/uml.js').UmlLabReport).uml
      process.stdout.write(`uml: ${u.binary}, kernel ${report.kernel}, boot to power-off ${u.boot_to_poweroff_seconds} s; the prediction's mechanism on this kernel: ${u.predicted_mechanism}; PAWS counters here: ${u.paws_counters.join(', ') || 'none'}\n`)
    }
    return report
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
