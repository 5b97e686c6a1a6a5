/**
 * What a rejected SYN costs the client (docs/kernel.md "Recovery"). The server answers a rejected
 * SYN with the old connection's ACK; the client in SYN_SENT answers it with an RST
 * (tcp_rcv_synsent_state_process) and, on 5.6+, resends its SYN after TCP_TIMEOUT_MIN (~2 ms)
 * when it has not retransmitted yet. So one rejection costs milliseconds. A connect stalls
 * (over 500 ms: the 1 s SYN timer) when:
 * - the client has no fast resend (before 5.6): every rejection waits 1 s;
 * - the resend is rejected too. With timestamps (PAWS) or tcp_rfc1337=1 it is judged afresh
 *   and rejected about as often as a first SYN (lab, 6.18: NAT remap 9.9 % stalled against a
 *   predicted 1/3 × 1/3; two senders on shared ports 0.34 % against 4.3 % × 8.2 %: behind a
 *   preserving NAT the resend is remapped afresh, so predict.ts passes the remapped SYNs' own
 *   reject rate for it, not the average connect's). Without
 *   timestamps and with the RST clearing the entry, the resend finds the tuple free (lab: 1 slow
 *   connect in 1,920 with 920 reused tuples);
 * - the stale ACK was rate-limited (tcp_invalid_ratelimit, 500 ms per TIME_WAIT socket), which
 *   only happens to an entry that survives a rejection, i.e. with tcp_rfc1337=1: a fresh
 *   TIME_WAIT socket starts with no rate-limit history (tw_last_oow_ack_time = 0).
 */

/** tcp_invalid_ratelimit default (Documentation/networking/ip-sysctl.rst): 500 ms. */
export const INVALID_RATELIMIT_SECONDS = 0.5

export interface Recovery {
  /** Probability that a rejected connect stalls over 500 ms. */
  stallGivenReject: number
  /** Probability that a rejected connect's stale ACK was suppressed by the rate limit. */
  rateLimited: number
}

export function recovery(p: {
  fastResend: boolean
  paws: boolean
  rstClears: boolean
  rejectedShare: number
  /** Rejected SYNs per second landing on one TIME_WAIT tuple. */
  rejectsPerTupleQps: number
}): Recovery {
  if (!p.fastResend) return {stallGivenReject: 1, rateLimited: 0}
  const rateLimited = p.rstClears ? 0 : 1 - Math.exp(-INVALID_RATELIMIT_SECONDS * p.rejectsPerTupleQps)
  const resendRejected = p.paws || !p.rstClears ? p.rejectedShare : 0
  return {stallGivenReject: 1 - (1 - resendRejected) * (1 - rateLimited), rateLimited}
}
