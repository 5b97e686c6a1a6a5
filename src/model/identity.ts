import type {TsOffsetScheme} from './gates.js'

/**
 * Who looks "unrelated" to the server's TIME_WAIT check (docs/kernel.md "Identity").
 *
 * tcp_timewait_state_process accepts a SYN on a TIME_WAIT tuple when it is not a PAWS reject and
 * its sequence number is after the old rcv_nxt, or its timestamp is newer than ts_recent. A
 * client's ISN is secure_tcp_seq(saddr, daddr, sport, dport) plus a clock, and its timestamp is
 * a clock plus an offset whose key depends on the client's kernel (gates.ts, tsOffsetScheme).
 * So the verdict on a SYN from the tuple's previous owner follows the clock (accepted); from
 * anyone else the two numbers are as good as random, and "newer" holds about half the time.
 */

/** A SYN whose sequence number or timestamp is unrelated to the old connection's: 32-bit coin flip. */
export const UNRELATED_REJECT_PROBABILITY = 0.5

export interface Identity {
  /** Server and clients both send timestamps: the decision is PAWS (timestamps), else the ISN. */
  paws: boolean
  scheme: TsOffsetScheme
  /**
   * A sender lands, through a NAT remap, on a tuple it used before from ANOTHER source port:
   * are its numbers related to that old connection? With timestamps, yes when the offset does
   * not depend on ports (per host pair, or none: tcp_timestamps=2 or kernels before 4.10); the
   * ISN always depends on the port.
   */
  sameSenderRemapRelated: boolean
  /** A sender reuses its own 4-tuple (no remap): related, unless offsets are per connection (4.10). */
  sameSenderOwnTupleRelated: boolean
}

/** The eight identities there are (paws or not, by effective scheme): built once each, shared and read-only. */
const identities = new Map<TsOffsetScheme, [Identity | undefined, Identity | undefined]>()

export function identity(serverTimestamps: number, clientTimestamps: number, scheme: TsOffsetScheme): Identity {
  const paws = serverTimestamps > 0 && clientTimestamps > 0
  // tcp_timestamps=2: timestamps on, no random offset (the raw clock).
  const effective: TsOffsetScheme = clientTimestamps === 2 ? 'none' : scheme
  let pair = identities.get(effective)
  if (pair === undefined) identities.set(effective, (pair = [undefined, undefined]))
  return (pair[paws ? 1 : 0] ??= identityOf(paws, effective))
}

function identityOf(paws: boolean, effective: TsOffsetScheme): Identity {
  return {
    paws,
    scheme: effective,
    sameSenderRemapRelated: paws && (effective === 'per-host-pair' || effective === 'none'),
    sameSenderOwnTupleRelated: !(paws && effective === 'per-connection'),
  }
}

/**
 * Share of colliding SYNs that come from someone unrelated to the tuple's previous owner, when
 * `senders` hosts share the address equally. `remapped`: the server-side tuple was picked by a
 * NAT, not by the sender (the previous owner is the same sender 1 in `senders` times, from
 * another of its ports).
 */
export function unrelatedShare(id: Identity, senders: number, remapped: boolean): number {
  const other = (senders - 1) / senders
  const sameRelated = remapped ? id.sameSenderRemapRelated : id.sameSenderOwnTupleRelated
  return other + (sameRelated ? 0 : 1 / senders)
}
