import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'

export default class Observe extends BaseCommand {
  static summary = 'Live evidence: TIME_WAIT counters as rates over an interval, and TIME_WAIT sockets per peer'
  static description = `Reads /proc/net/snmp, /proc/net/netstat and /proc/net/sockstat twice, --interval seconds apart, and prints per-second rates of the counters that show TIME_WAIT trouble (PAWSTimewait, TWRecycled, TCPTimeWaitOverflow, SYN retransmits, ...), with the TIME_WAIT sockets per peer from the kernel (ss). Read-only.`

  static examples = ['<%= config.bin %> observe', '<%= config.bin %> observe --interval 10 --json', '<%= config.bin %> observe --netns client-ns']
  static enableJsonFlag = true
  static flags = {
    interval: Flags.integer({char: 'i', description: 'seconds between the two readings', default: 5, min: 1, max: 3600}),
    top: Flags.integer({description: 'peers to list', default: 10, min: 1}),
    netns: Flags.string({description: 'observe inside this network namespace (root)', helpValue: 'NAME'}),
  }

  async run(): Promise<Record<string, unknown>> {
    const {flags} = await this.parse(Observe)
    const {observe} = await import('../sources/observe.js')
    const tty = Boolean(process.stderr.isTTY) && !this.jsonEnabled()
    const result = await observe({
      netns: flags.netns,
      intervalSeconds: flags.interval,
      top: flags.top,
      tick: tty ? (left) => process.stderr.write(`\robserving… ${left} s left `) : undefined,
    })
    if (tty) process.stderr.write('\r\u001B[K')
    if (!this.jsonEnabled()) {
      const {renderObservation} = await import('../render/observe.js')
      this.log(renderObservation(result))
    }
    return result as unknown as Record<string, unknown>
  }
}
