import type {KernelVersion} from './kernel.js'

/**
 * What a source could read about one host. Keys are normalised to the dotted form that
 * `sysctl -a` prints (net.ipv4.tcp_tw_reuse). A key that is not in `sysctls` is absent on that
 * kernel (or unreadable): that is a fact, not an error.
 */
export interface Facts {
  /** Where the facts came from: "live", a file path, "stdin", "netns:NAME". */
  source: string
  kernel: KernelVersion | null
  sysctls: Record<string, string>
  /** TcpExt/Tcp counters when a source provides them (name -> value), e.g. "TcpExtTWRecycled". */
  counters: Record<string, number>
  /** TIME_WAIT sockets from /proc/net/sockstat, when known. */
  timeWaitSockets?: number
}
