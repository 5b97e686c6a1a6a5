/**
 * Kernel constants the model rests on. Each cites the KERNEL.md fact (../shared/KERNEL.md)
 * and, where it helps, the kernel source that defines it.
 */

/** TCP_TIMEWAIT_LEN (include/net/tcp.h): 60 s, fixed in mainline kernels. */
export const TCP_TIMEWAIT_SECONDS = 60

/** Default ip_local_port_range since 4.2 ("32768 60999", R = 28,232). */
export const DEFAULT_PORT_RANGE: [number, number] = [32768, 60999]

/** ip_unprivileged_port_start default (4.11+): the range's low end may not go below it. */
export const DEFAULT_UNPRIVILEGED_PORT_START = 1024

/** tcp_tw_reuse_delay default (sysctl since 6.14; about 1 s before that). */
export const DEFAULT_TW_REUSE_DELAY_MS = 1000

/** nf_conntrack_tcp_timeout_time_wait default: 120 s. */
export const DEFAULT_CONNTRACK_TIME_WAIT_SECONDS = 120

/**
 * The share of new connections in a harmful flow (shared-address senders) that we accept landing
 * on a 4-tuple the server still holds in TIME_WAIT. A product choice, not a kernel fact: at 1 %
 * the stalls measured in the lab (about 2 % of colliding connects) fall to roughly 1 in 5,000.
 */
export const COLLISION_BUDGET = 0.01

/** The widest range a client can use: [ip_unprivileged_port_start, 65535]. */
export const MAX_PORT = 65535

/**
 * Remedies aim below the limit, not at it: measured in the lab, a port range sized exactly at
 * qps × 60 s still failed (first EADDRNOTAVAIL after 6,004 connects for 6,000 ports at 100/s:
 * connection lifetimes and timer granularity add to TIME_WAIT). Sizes get 10 % headroom.
 */
export const REMEDY_HEADROOM = 0.1
