import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {TwError} from '../errors.js'
import {inputFlags} from '../inputs.js'

export default class Wizard extends BaseCommand {
  static summary = 'Answer a few questions about your traffic; get the findings, a topology file and a sysctl.d file'
  static description = `Reads this host's sysctls first and shows what it found, asks what you are seeing (resets, 1 s stalls, "Cannot assign requested address", or planning), then asks about each flow: this host's role, the peer, new connections per second, who closes first, keep-alive, NAT, source addresses, senders and server endpoints. Each question has a one-line hint and, where one makes sense, a default (from the host where it can); a refused answer is asked again with the reason.

It ends with the same findings \`check\` prints, then offers to save the topology file (it loads in \`check -t\` unchanged) and to write the sysctl.d file, showing the diff first. Nothing is written until every question is answered: Ctrl-C at any point exits 130 and leaves the disk as it was.

It needs a terminal; in scripts use \`check\`, or replay answers with --answers FILE (YAML or JSON, laid out like the topology file; missing answers take their defaults, and files are written only when the answers or --output-* name them). Answer keys: symptom (resets, stalls, eaddrnotavail, planning), host, flows (a list; each: role, peer, name, qps, closes_first, keepalive, nat (true/false, or {port_range, conntrack_time_wait}), client_addresses, senders, server_endpoints, client_port_range, another), save_topology, topology_file, topology_replace, write_sysctl, sysctl_file, sysctl_confirm.

Exit codes, as check: 0 nothing critical, 2 critical findings, 1 bad input or failure, 130 cancelled.`

  static examples = [
    '<%= config.bin %> wizard',
    '<%= config.bin %> wizard --sysctl-file sysctl.txt --output-topology topology.yaml',
    'sudo <%= config.bin %> wizard --output-sysctl /etc/sysctl.d/60-twadvisor.conf',
    '<%= config.bin %> wizard --answers answers.yaml --output-topology topology.yaml',
  ]

  static flags = {
    'sysctl-file': inputFlags['sysctl-file'],
    netns: inputFlags.netns,
    answers: Flags.string({description: 'replay answers from FILE (YAML or JSON) instead of asking; no terminal needed', helpValue: 'FILE'}),
    'output-topology': Flags.string({description: 'default path offered for the topology file', helpValue: 'FILE'}),
    'output-sysctl': Flags.string({description: 'default path offered for the sysctl.d file', helpValue: 'FILE'}),
    discover: Flags.boolean({description: 'first watch the host (or --netns) and offer the flows it shows as the defaults (see `twadvisor discover`)', exclusive: ['sysctl-file']}),
    interval: Flags.integer({description: 'with --discover: seconds to watch', default: 10, min: 1, max: 3600}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Wizard)
    const interactive = flags.answers === undefined
    if (interactive && !(process.stdin.isTTY && process.stdout.isTTY)) {
      throw new TwError('wizard.tty', 'the wizard asks questions and needs a terminal (stdin and stdout are not both a TTY)', {
        hint: 'in scripts use `twadvisor check -t FILE`, or replay answers with `twadvisor wizard --answers FILE`',
      })
    }
    if (interactive && flags['sysctl-file'] === '-') {
      throw new TwError('wizard.stdin', 'the wizard reads its answers from the terminal, so --sysctl-file cannot be stdin', {
        position: {field: '--sysctl-file'},
        hint: 'save the dump to a file first: sysctl -a > sysctl.txt',
      })
    }
    const [{readFacts}, {runWizard}, {isPromptExit, terminalPrompts}, {styler}, {hostname}] = await Promise.all([
      import('../inputs.js'),
      import('../wizard/flow.js'),
      import('../wizard/prompts.js'),
      import('../render/style.js'),
      import('node:os'),
    ])
    const style = styler()
    const print = (line: string) => process.stdout.write(`${line}\n`)
    let prompts
    if (flags.answers === undefined) prompts = await terminalPrompts((hint) => print(style.dim(`  ${hint}`)))
    else {
      const {loadAnswers, replayPrompts} = await import('../wizard/replay.js')
      prompts = replayPrompts(await loadAnswers(flags.answers), print)
    }
    const facts = await readFacts(flags['sysctl-file'], flags.netns)
    let discovered
    if (flags.discover) {
      const {runDiscover} = await import('../discover/run.js')
      print(style.dim(`Watching the host's connections for ${flags.interval} s (read-only)...`))
      discovered = (await runDiscover({interval: flags.interval, netns: flags.netns}, undefined, facts)).topology.flows
    }
    try {
      const result = await runWizard(
        {prompts, print, style},
        {
          facts,
          hostname: facts.source === 'live' ? hostname() : undefined,
          outputTopology: flags['output-topology'],
          outputSysctl: flags['output-sysctl'],
          replay: !interactive,
          isRoot: process.getuid?.() === 0,
          discovered,
        },
      )
      if (result.interrupted) {
        const done = result.written.map((w) => w.path)
        process.stderr.write(`twadvisor: wizard interrupted; ${done.length > 0 ? `finished ${done.join(', ')} and wrote nothing else` : 'nothing was written'}\n`)
        return this.exit(130)
      }
      process.exitCode = result.exitCode
    } catch (error) {
      if (isPromptExit(error)) {
        process.stderr.write('twadvisor: wizard cancelled; nothing was written\n')
        return this.exit(130)
      }
      throw error
    }
  }
}
