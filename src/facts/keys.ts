/**
 * The sysctls the model and the rules read. A live read opens exactly these files under
 * /proc/sys (no subprocess per key); a dump may hold many more, and they are kept.
 */
export const RELEVANT_KEYS = [
  'kernel.osrelease',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_tw_reuse_delay',
  'net.ipv4.tcp_tw_recycle',
  'net.ipv4.tcp_tw_timeout',
  'net.ipv4.tcp_timestamps',
  'net.ipv4.tcp_max_tw_buckets',
  'net.ipv4.tcp_rfc1337',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_syn_retries',
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait',
  'net.netfilter.nf_conntrack_max',
  // tcp_max_tw_buckets' default is estimated from these when the key is absent (model/host.ts).
  'net.ipv4.tcp_max_orphans',
  'net.ipv4.tcp_ehash_entries',
  'net.ipv4.tcp_mem',
  'net.nf_conntrack_max',
] as const

/**
 * The kernel counters twadvisor reads (docs/kernel.md, "Evidence on a live host"): the ones whose
 * per-second rate tells the TIME_WAIT story in `observe`, and the only ones a rule may name
 * (a test holds the rules to it). A fleet run keeps just these from each host's /proc/net copies.
 */
export const RELEVANT_COUNTERS = [
  'TcpActiveOpens',
  'TcpPassiveOpens',
  'TcpAttemptFails',
  'TcpEstabResets',
  'TcpOutRsts',
  'TcpExtTW',
  'TcpExtTWRecycled',
  'TcpExtTWKilled',
  'TcpExtTCPTimeWaitOverflow',
  'TcpExtPAWSTimewait',
  // Before 6.16 PAWS rejects in TIME_WAIT are counted here, with the established ones.
  'TcpExtPAWSEstab',
  'TcpExtTCPACKSkippedTimeWait',
  'TcpExtTCPSynRetrans',
] as const
