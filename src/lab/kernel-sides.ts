import {kernelAtLeast, parseKernel} from '../facts/kernel.js'
import type {Facts} from '../facts/types.js'
import type {FlowModel} from '../model/types.js'
import type {Flow} from '../topology/types.js'
import {modelFor} from './remedy.js'

/**
 * When the lab runs every side of a flow on one kernel (the user-mode Linux guest), the
 * prediction must be told that kernel for the server, the NAT and the clients alike: NAT
 * eviction of closing entries (6.5), the PAWS counter (6.16) and the timestamp-offset scheme
 * all depend on it.
 *
 * Today's model takes one kernel for the host (`modelFor(.., kernel)`) and applies it to the
 * NAT only when the flow's role is "nat". The harm model v2 (issue 10) reads the other sides
 * from `nat.kernel` and `client_kernel`; they are set here already, so the switch at merge is
 * this file's `labPrediction` calling predictFlow.
 */
export function onKernel(flow: Flow, facts: Facts, kernel: string): {flow: Flow; facts: Facts} {
  const sides: Record<string, unknown> = {...flow, client_kernel: kernel}
  if (flow.nat) sides.nat = {...flow.nat, kernel}
  return {flow: sides as unknown as Flow, facts}
}

/** The mechanism a prediction rests on, in the words the lab's report and tests use. */
export type Mechanism = 'client-exhaustion' | 'nat-drop' | 'paws-reject' | 'tw-collision' | 'benign' | 'none'

export interface KernelPrediction {
  kernel: string
  harmful: boolean
  mechanism: Mechanism
  model: FlowModel
}

/**
 * The one function the lead switches to predictFlow at merge. Today: the current model with
 * `kernel` as the host's kernel; a NAT-role flow then also gets the NAT's eviction gate.
 * "paws-reject": remapped senders land on TIME_WAIT tuples with timestamps on (a PAWS reject
 * on the server, the stall KERNEL.md describes); "tw-collision": the same without timestamps.
 */
export function labPrediction(flow: Flow, facts: Facts, kernel: string): KernelPrediction {
  const s = onKernel(flow, facts, kernel)
  const m = modelFor(s.flow, s.facts, kernel)
  const ts = (s.facts.sysctls['net.ipv4.tcp_timestamps'] ?? '1') !== '0'
  const mechanism: Mechanism = m.portExhaustion
    ? 'client-exhaustion'
    : m.natExhausted
      ? 'nat-drop'
      : m.harmful
        ? ts
          ? 'paws-reject'
          : 'tw-collision'
        : m.benignCollisions
          ? 'benign'
          : 'none'
  return {kernel, harmful: m.harmful || m.portExhaustion || m.natExhausted, mechanism, model: m}
}

/**
 * Where this kernel counts a SYN rejected by PAWS on a TIME_WAIT tuple: its own counter
 * (TcpExtPAWSTimewait) from 6.16, "tcp: add LINUX_MIB_PAWS_TW_REJECTED counter" (net-next,
 * April 2025); before that tcp_timewait_state_process counts it with the established-state
 * PAWS rejects, TcpExtPAWSEstab (KERNEL.md).
 */
export function pawsCounterFor(kernel: string): 'TcpExtPAWSTimewait' | 'TcpExtPAWSEstab' {
  return kernelAtLeast(parseKernel(kernel), '6.16') ? 'TcpExtPAWSTimewait' : 'TcpExtPAWSEstab'
}

/**
 * What a measured phase shows, named like the prediction's mechanism. EADDRNOTAVAIL is the
 * client's own exhaustion. A connect can only stall inside TCP through a retransmitted SYN
 * (the 1 s RTO) or a reset, so slow connects count as stalls up to the clients' SYN
 * retransmits: past that they are the machine's scheduling (a starved user-mode Linux guest on
 * a loaded host: 9 connects over 500 ms in 1291 with no SYN retransmitted, seen here). A SYN
 * rejected on a TIME_WAIT tuple is counted on the server (under this kernel's PAWS counter
 * name) once per rejected SYN, so when that count reaches half the stalls or more, the rejects
 * explain them: "paws-reject". Otherwise connect timeouts are SYNs that never reached the
 * server: a NAT without a free tuple drops them ("nat-drop"; its retried SYNs that find one
 * are the slow connects). At most `floor` of the attempts harmed: "benign" when tuples were
 * reused, else "none".
 */
/**
 * At or below this share of attempts harmed, a measured phase shows no harmful mechanism: twice
 * the harm budget (0.1 %), what a few thousand connects in a guest on a loaded host can resolve.
 */
export const MECHANISM_FLOOR = 0.002

export function measuredMechanism(
  p: {attempts: number; slow: number; failures: {EADDRNOTAVAIL: number; reset: number; timeout: number}; counters: Record<string, Record<string, number>>; reused_tuples: number | null},
  kernel: string,
  floor: number,
): Mechanism {
  const f = p.failures
  const synRetrans = Object.entries(p.counters)
    .filter(([label]) => label.startsWith('client'))
    .reduce((sum, [, c]) => sum + (c.TcpExtTCPSynRetrans ?? 0), 0)
  const stalls = Math.min(p.slow, synRetrans) + f.reset + f.timeout
  if (stalls + f.EADDRNOTAVAIL <= floor * p.attempts) return (p.reused_tuples ?? 0) > 0 ? 'benign' : 'none'
  if (f.EADDRNOTAVAIL >= stalls) return 'client-exhaustion'
  const paws = p.counters.server?.[pawsCounterFor(kernel)] ?? 0
  if (paws > 0 && paws >= stalls / 2) return 'paws-reject'
  return f.timeout > 0 ? 'nat-drop' : 'tw-collision'
}

/**
 * Whether a measured mechanism is the predicted one. "benign" (tuples reused, accepted) and
 * "none" are the same harmless outcome: the model does not count a client re-using its own
 * TIME_WAIT port (tcp_tw_reuse=1) as a collision, the server's tuple count does.
 */
export function sameMechanism(predicted: Mechanism, measured: Mechanism): boolean {
  const harmless = (m: Mechanism) => m === 'none' || m === 'benign'
  return predicted === measured || (harmless(predicted) && harmless(measured))
}
