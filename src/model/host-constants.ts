/**
 * Kernel constants of the host-level accounting (src/model/host.ts), each with where it comes from.
 */

/**
 * The largest default tcp_max_tw_buckets: tcp_init() sizes the established hash at one slot per
 * 128 KiB of RAM, at most 512 Ki slots (alloc_large_system_hash(..., 17, ..., 512 * 1024)), and
 * sets the cap to half of it (net/ipv4/tcp.c, tcp_init; per namespace in tcp_sk_init).
 */
export const MAX_TW_BUCKETS_DEFAULT_CEILING = 262_144

/** Page size the tcp_mem estimate assumes (x86-64, arm64 with 4 KiB pages). */
export const PAGE_BYTES = 4096

/**
 * Before 6.14 tcp_twsk_unique() lets connect() take a TIME_WAIT port once the whole-second clock
 * has moved past the last timestamped segment: up to 2 s with the older `> 1` test, so the
 * model holds a port that long (it errs safe). 6.14 added tcp_tw_reuse_delay in ms.
 */
export const PRE_6_14_TW_REUSE_DELAY_MS = 2000

/** nf_conntrack_tcp_timeout_close default (s): entries closed by RST stay this long. */
export const CONNTRACK_CLOSE_SECONDS = 10
