import {compareKernel, parseKernel, type KernelVersion} from './kernel.js'

/**
 * The kernel facts twadvisor's model, rules and remedies depend on, each with the mainline
 * version it starts in (or ends in) and the stable releases it was backported to. One table,
 * so a gate is data: a rule or remedy lists the facts it needs (`facts: [id]`) and is not
 * offered on a kernel where one does not hold; rule conditions see them as `host.facts.<id>`.
 * docs/kernel.md describes each row with its source; a test keeps the two in step.
 */
export interface KernelFact {
  /** Stable identifier, also the CEL name: host.facts.<id>. */
  id: string
  /** What the kernel does, in a few words. */
  title: string
  /** First mainline release that has it. */
  since: string
  /** First mainline release that no longer has it (a removed feature). */
  until?: string
  /**
   * Stable releases that carry it before `since`: a kernel on the same major.minor line at or
   * above the listed release has it.
   */
  backports?: string[]
  /** Backports known to exist but not pinned to a release here: such kernels are "assumed". */
  unpinnedBackports?: string
  /** The upstream commit (its title) and the file, where the fact can be checked. */
  source: string
}

export const KERNEL_FACTS = [
  {
    id: 'port_parity_soft',
    title: 'connect() tries the ports of the range start\'s parity first, bind(0) the others',
    since: '4.2',
    source: 'tcp/dccp: try to not exhaust ip_local_port_range in connect() — net/ipv4/inet_hashtables.c',
  },
  {
    id: 'port_parity_strict',
    title: 'connect() walks the first parity in one pass, then the other (two strict passes, step 2)',
    since: '4.6',
    source: 'tcp/dccp: better use of ephemeral ports in connect() — net/ipv4/inet_hashtables.c (__inet_hash_connect)',
  },
  {
    id: 'ip_bind_address_no_port',
    title: 'IP_BIND_ADDRESS_NO_PORT defers the source port choice from bind() to connect()',
    since: '4.2',
    source: 'ipv4: add IP_BIND_ADDRESS_NO_PORT to overcome bind(0) limitations — include/uapi/linux/in.h',
  },
  {
    id: 'ts_offset_per_connection',
    title: 'TCP timestamp offsets randomized per connection',
    since: '4.10',
    source: 'tcp: randomize tcp timestamp offsets for each connection — net/core/secure_seq.c',
  },
  {
    id: 'ts_offset_per_host_pair',
    title: 'TCP timestamp offsets per (source, destination) address pair',
    since: '4.11',
    source: 'secure_seq: downgrade to per-host timestamp offsets — net/core/secure_seq.c (secure_tcp_ts_off)',
  },
  {
    id: 'tw_buckets_per_netns',
    title: 'tcp_max_tw_buckets is a per network namespace limit',
    since: '4.11',
    source: 'ipv4: Namespaceify tcp_max_tw_buckets knob — net/ipv4/tcp_ipv4.c (tcp_sk_init), include/net/netns/ipv4.h',
  },
  {
    id: 'tw_recycle',
    title: 'tcp_tw_recycle exists (drops SYNs from NATed clients when on)',
    since: '2.6.0',
    until: '4.12',
    source: 'tcp: remove tcp_tw_recycle — net/ipv4/tcp_ipv4.c',
  },
  {
    id: 'tw_reuse_loopback',
    title: 'tcp_tw_reuse=2 reuses TIME_WAIT ports toward loopback peers only (the default)',
    since: '4.19',
    source: 'net-tcp: extend tcp_tw_reuse sysctl to enable loopback only optimization — net/ipv4/tcp_ipv4.c (tcp_twsk_unique)',
  },
  {
    id: 'syn_fast_resend',
    title: 'a client resends its SYN after ~2 ms when a suspicious ACK answers it',
    since: '5.6',
    source: 'tcp: Reduce SYN resend delay if a suspicous ACK is received — net/ipv4/tcp_input.c (tcp_rcv_synsent_state_process)',
  },
  {
    id: 'port_per_destination_table',
    title: 'connect() keeps its port offset per destination (perturbation table), not one global hint',
    since: '5.12',
    source: 'tcp: change source port randomizarion at connect() time — net/ipv4/inet_hashtables.c',
  },
  {
    id: 'port_random_increments',
    title: 'after each pick the per-destination offset advances by a random 2–16 ports',
    since: '5.18',
    backports: ['5.15.41'],
    unpinnedBackports: '2022 stable updates of the 4.9, 4.14, 4.19, 5.4 and 5.10 lines',
    source: 'tcp: add small random increments to the source port — net/ipv4/inet_hashtables.c; 5.15.41 stable review',
  },
  {
    id: 'port_resalt_10s',
    title: 'the port offset secret changes every 10 s',
    since: '5.18',
    backports: ['5.15.41'],
    unpinnedBackports: '2022 stable updates of the 4.9, 4.14, 4.19, 5.4 and 5.10 lines',
    source: 'tcp: resalt the secret every 10 seconds — net/core/secure_seq.c; 5.15.41 stable review',
  },
  {
    id: 'ip_local_port_range_sockopt',
    title: 'per-socket IP_LOCAL_PORT_RANGE option',
    since: '6.3',
    source: 'ipv4: add IP_LOCAL_PORT_RANGE socket option — net/ipv4/ip_sockglue.c',
  },
  {
    id: 'nat_evicts_closing',
    title: 'SNAT may evict a closing conntrack entry on a reply tuple collision',
    since: '6.5',
    source: 'netfilter: snat: evict closing tcp entries on reply tuple collision — net/netfilter/nf_nat_core.c',
  },
  {
    id: 'tw_reuse_delay_sysctl',
    title: 'tcp_tw_reuse_delay (ms, default 1000) counted from the TIME_WAIT entry; before it whole seconds, up to 2 s',
    since: '6.14',
    source: 'tcp: add sysctl_tcp_tw_reuse_delay — net/ipv4/tcp_ipv4.c (tcp_twsk_unique), Documentation/networking/ip-sysctl.rst',
  },
  {
    id: 'paws_timewait_counter',
    title: 'PAWS rejects in TIME_WAIT counted in TcpExtPAWSTimewait (before: TcpExtPAWSEstab)',
    since: '6.16',
    source: 'tcp: add LINUX_MIB_PAWS_TW_REJECTED counter — include/uapi/linux/snmp.h, net/ipv4/proc.c',
  },
  {
    id: 'ts_offset_per_tuple',
    title: 'TCP timestamp offsets per 4-tuple again (ports in the hash)',
    since: '7.0',
    backports: ['6.12.94', '6.18.17', '6.19.7'],
    source: 'tcp: secure_seq: add back ports to TS offset — net/core/secure_seq.c',
  },
] as const satisfies readonly KernelFact[]

export type FactId = (typeof KERNEL_FACTS)[number]['id']

const BY_ID: ReadonlyMap<string, KernelFact> = new Map(KERNEL_FACTS.map((f) => [f.id, f]))

export function isFactId(id: string): id is FactId {
  return BY_ID.has(id)
}

export function kernelFact(id: FactId): KernelFact {
  return BY_ID.get(id)!
}

/**
 * Does `kernel` have the fact? With no kernel known, a current mainline kernel is assumed (the
 * same assumption the model makes), so features hold and removed ones do not.
 */
export function factHolds(id: FactId, kernel: KernelVersion | null): boolean {
  const f = kernelFact(id)
  if (kernel === null) return f.until === undefined
  if (f.until !== undefined && compareKernel(kernel, f.until) >= 0) return false
  if (compareKernel(kernel, f.since) >= 0) return true
  for (const b of f.backports ?? []) {
    const v = parseKernel(b)!
    if (v.major === kernel.major && v.minor === kernel.minor && kernel.patch >= v.patch) return true
  }
  return false
}

/** Every fact for one kernel, as the rules see them (host.facts.<id>). */
export function factsFor(kernel: KernelVersion | null): Record<FactId, boolean> {
  const out = {} as Record<FactId, boolean>
  for (const f of KERNEL_FACTS) out[f.id] = factHolds(f.id, kernel)
  return out
}

/** "4.2", "5.18 (backports: 5.15.41)", "until 4.12": where a fact starts, for messages and docs. */
export function factVersionLabel(f: KernelFact): string {
  const parts = [f.until ? `${f.since} to ${f.until} (removed)` : f.since]
  if (f.backports?.length) parts.push(`backported to ${f.backports.join(', ')}`)
  return parts.join(', ')
}
