import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'

export default class Discover extends BaseCommand {
  static summary = 'Infer the host\'s flows from its sockets and counters, and write a topology `check` loads unchanged'
  static description = `Read-only. Watches connection ends (sock_diag events through \`ss -E\`) and the counters for --interval seconds, then reads the socket table (listeners, ESTABLISHED, TIME_WAIT through \`ss\`, never /proc/net/tcp) and, where readable, the conntrack table. Sockets on a local listener make a server flow; other sockets a client flow toward their remote ip:port. Each field is written with its evidence and a confidence as a comment; what this host cannot show is marked "fill in". Flows under --floor new connections/s are folded into one comment.`

  static examples = [
    '<%= config.bin %> discover > topology.yaml',
    '<%= config.bin %> discover --interval 30 --netns app-ns --json',
    '<%= config.bin %> discover --from saved/ --interval 10',
    '<%= config.bin %> check --discover --interval 10',
  ]

  static enableJsonFlag = true
  static flags = {
    interval: Flags.integer({char: 'i', description: 'seconds to watch', default: 10, min: 1, max: 3600}),
    netns: Flags.string({description: 'discover inside this network namespace (root)', helpValue: 'NAME', exclusive: ['from']}),
    from: Flags.string({description: 'saved readings instead of the live host (listen.txt, time-wait.txt, events.txt, ...)', helpValue: 'DIR'}),
    floor: Flags.string({description: 'fold flows under this many new connections/s', default: '1', helpValue: 'QPS'}),
    events: Flags.boolean({description: 'count connection ends with sock_diag events (--no-events: from TIME_WAIT timers)', default: true, allowNo: true}),
    output: Flags.string({char: 'o', description: 'write the topology to FILE (atomic) instead of stdout', helpValue: 'FILE'}),
  }

  async run(): Promise<Record<string, unknown>> {
    const {flags} = await this.parse(Discover)
    const {runDiscover} = await import('../discover/run.js')
    const tty = Boolean(process.stderr.isTTY) && !this.jsonEnabled()
    const result = await runDiscover(flags, tty ? (s) => process.stderr.write(`\r\u001B[K${s}`) : undefined)
    if (tty) process.stderr.write('\r\u001B[K')
    const {toJson} = await import('../discover/render.js')
    const json = toJson(result.discovery)
    if (this.jsonEnabled()) return json
    if (flags.output) {
      const {writeFileAtomic} = await import('../generate/write.js')
      await writeFileAtomic(flags.output, result.yaml)
      process.stderr.write(`twadvisor: wrote ${flags.output} (${result.discovery.flows.length} flows)\n`)
    } else this.log(result.yaml.trimEnd())
    return json
  }
}
