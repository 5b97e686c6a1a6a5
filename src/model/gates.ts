import {compareKernel, kernelAtLeast, type KernelVersion} from '../facts/kernel.js'

/**
 * Kernel version gates the harm model uses, each one small named function with the fact behind
 * it (docs/kernel.md). The project's table of kernel facts (src/facts/kernel-facts.ts) is meant
 * to answer these at merge; until then they live here and nowhere else.
 */

/**
 * The client resends its SYN after TCP_TIMEOUT_MIN (~2 ms) when a SYN_SENT socket gets an
 * unacceptable ACK, instead of waiting for its 1 s SYN timer: tcp_rcv_synsent_state_process,
 * "tcp: Reduce SYN resend delay if a suspicous ACK is received" (5.6). docs/kernel.md "Recovery".
 */
export function hasFastSynResend(clientKernel: KernelVersion | null): boolean {
  return clientKernel === null || kernelAtLeast(clientKernel, '5.6')
}

/**
 * SNAT may evict a conntrack entry that is closing when the pool has no free tuple, in its last
 * probes (nf_nat_used_tuple_harder, 6.5). Older NATs drop the SYN. docs/kernel.md "NAT".
 */
export function natEvictsClosing(natKernel: KernelVersion | null): boolean {
  return natKernel === null || kernelAtLeast(natKernel, '6.5')
}

/** PAWS rejects in TIME_WAIT are counted in TcpExtPAWSTimewait from 6.16, in TcpExtPAWSEstab before. */
export function pawsTimewaitCounter(kernel: KernelVersion | null): 'TcpExtPAWSTimewait' | 'TcpExtPAWSEstab' {
  return kernel === null || kernelAtLeast(kernel, '6.16') ? 'TcpExtPAWSTimewait' : 'TcpExtPAWSEstab'
}

/**
 * How a client offsets its TCP timestamps (secure_seq.c, secure_tcp_ts_off / tcp_ts_off):
 * - none: before 4.10, the raw millisecond clock (monotonic per host);
 * - per-connection: 4.10, a random offset per connection;
 * - per-host-pair: 4.11 up to 7.0, keyed on (saddr, daddr);
 * - per-4-tuple: 7.0 ("tcp: secure_seq: add back ports to TS offset"), backported to 6.12.94,
 *   6.18.17 and 6.19.7.
 */
export type TsOffsetScheme = 'none' | 'per-connection' | 'per-host-pair' | 'per-4-tuple'

/** Stable series that received the per-4-tuple offset, and the first release with it. */
const PER_TUPLE_BACKPORTS: Array<[string, string]> = [
  ['6.12', '6.12.94'],
  ['6.18', '6.18.17'],
  ['6.19', '6.19.7'],
]

/** tsOffsetScheme by kernel: the model asks per bisection step, for the same few kernels. */
const schemes = new WeakMap<KernelVersion, TsOffsetScheme>()

export function tsOffsetScheme(clientKernel: KernelVersion | null): TsOffsetScheme {
  if (clientKernel === null) return 'per-4-tuple'
  let scheme = schemes.get(clientKernel)
  if (scheme === undefined) schemes.set(clientKernel, (scheme = schemeOf(clientKernel)))
  return scheme
}

function schemeOf(clientKernel: KernelVersion | null): TsOffsetScheme {
  // Unknown: the newest behaviour, the one that makes a remapped sender look unrelated (errs on harm).
  if (clientKernel === null || kernelAtLeast(clientKernel, '7.0')) return 'per-4-tuple'
  for (const [series, first] of PER_TUPLE_BACKPORTS) {
    if (compareKernel(clientKernel, series) >= 0 && compareKernel(clientKernel, `${series}.999`) <= 0) {
      return compareKernel(clientKernel, first) >= 0 ? 'per-4-tuple' : 'per-host-pair'
    }
  }
  if (kernelAtLeast(clientKernel, '4.11')) return 'per-host-pair'
  if (kernelAtLeast(clientKernel, '4.10')) return 'per-connection'
  return 'none'
}
