import {UNRELATED_REJECT_PROBABILITY} from './identity.js'

/**
 * The server's TIME_WAIT decision on a new SYN (tcp_timewait_state_process; docs/kernel.md
 * "Server TIME_WAIT"). A SYN from someone unrelated to the tuple's last owner is rejected half
 * the time; the rejection answers with the old connection's ACK, and the client's RST to it
 * clears the entry unless tcp_rfc1337=1.
 *
 * Clearing changes how many tuples are in TIME_WAIT when the next SYN comes. Take a tuple that a
 * SYN finds in TIME_WAIT with probability c if nothing cleared it. Each collision either renews
 * the entry (accepted, or related) or, with probability q = unrelated × 1/2, clears it. In the
 * steady state a tuple hit again and again is in TIME_WAIT a share 1 / (1 + q) of the time
 * (from TIME_WAIT it leaves with probability q, from free it comes back with probability 1), and
 * we scale that by c for tuples that are not hit within one TIME_WAIT:
 *   rejected = q·c / (1 + q·c)   with clearing,   q·c   without (tcp_rfc1337=1).
 * Worked example: a saturated pool (c = 1) of unrelated senders (q = 1/2): 1/3 of connects are
 * rejected with tcp_rfc1337=0, 1/2 with tcp_rfc1337=1.
 */
export function rejectedShare(collisionShare: number, unrelatedShare: number, rstClears: boolean): number {
  const x = unrelatedShare * UNRELATED_REJECT_PROBABILITY * collisionShare
  return rstClears ? x / (1 + x) : x
}

/**
 * tcp_max_tw_buckets on the server caps TIME_WAIT entries: past it a closing socket skips
 * TIME_WAIT. With `tuples` tuples in rotation, at most cap / tuples of them can be in TIME_WAIT.
 */
export function bucketCap(collisionShare: number, maxTwBuckets: number | null, tuples: number): number {
  if (maxTwBuckets === null) return collisionShare
  return Math.min(collisionShare, maxTwBuckets / Math.max(1, tuples))
}
