import type {Facts} from '../facts/types.js'
import type {Flow} from '../topology/types.js'
import {FLOW_DEFAULTS} from '../topology/types.js'
import type {Mechanism} from './kernel-sides.js'
import type {GuestJob} from './uml.js'

/**
 * The scenarios whose outcome differs, or must be shown not to differ, between kernel
 * versions (issue 15): run on the host's kernel by the fidelity matrix and inside the
 * user-mode Linux guest (6.1) by test/uml. `scripts/cross-kernel.js` runs them on both and
 * prints the README's table. Rates stay moderate: the guest's network stack runs as
 * ptrace-driven processes, and a nested node inside it is slower than on the host.
 */
export interface CrossKernelScenario {
  id: string
  title: string
  job: GuestJob
  /** What each kernel family should show (the prediction must say the same). */
  expect: {old: Mechanism; current: Mechanism}
}

const facts = (sysctls: Record<string, string>): Facts => ({source: 'cross-kernel', kernel: null, sysctls: {'net.ipv4.tcp_timestamps': '1', ...sysctls}, counters: {}})
const flow = (over: Partial<Flow>): Flow => ({...FLOW_DEFAULTS, name: 'x', role: 'nat', peer: '198.19.0.2:80', qps: 10, closes_first: 'server', ...over})
/** `port_mode` is issue 10's field: the lab's ruleset honours it once that lands (layer.ts translates its flags). */
const nat = (n: Record<string, unknown>) => n as unknown as NonNullable<Flow['nat']>

export const CROSS_KERNEL: CrossKernelScenario[] = [
  {
    // One sender behind a fully-random SNAT into a 1000-port pool at 120/s, conntrack holding
    // TIME_WAIT 120 s: 8.3 connects/s fit. 6.1 cannot evict, so the pool runs out; 6.5+ evicts
    // the closing entry and the server meets the reused tuple in TIME_WAIT.
    id: 'one-sender-fully-random',
    title: 'one sender, fully-random SNAT, 1000-port pool, 120/s',
    job: {
      flow: flow({name: 'one-sender-fully-random', qps: 120, senders: 1, client_addresses: 1, nat: nat({port_range: [40000, 40999], conntrack_time_wait: 120, port_mode: 'fully-random'})}),
      facts: facts({}),
      remedy: 'none',
      phaseSeconds: 12,
      warmupSeconds: 0,
      maxExtensions: 0,
    },
    expect: {old: 'nat-drop', current: 'paws-reject'},
  },
  {
    // Two senders remapped into a 240-port pool at 10/s; conntrack forgets a closed tuple after
    // 20 s (the NAT's own sysctl), so a tuple comes back after ~24 s, inside the server's 60 s
    // TIME_WAIT, often from the other sender: PAWS rejects it, on either kernel.
    id: 'remap-timestamps',
    title: 'two senders remapped, 240-port pool, conntrack TIME_WAIT 20 s, 10/s',
    job: {
      flow: flow({name: 'remap-timestamps', qps: 10, senders: 2, client_addresses: 1, nat: nat({port_range: [20000, 20239], conntrack_time_wait: 20})}),
      facts: facts({'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '20'}),
      remedy: 'none',
      phaseSeconds: 40,
      warmupSeconds: 0,
      maxExtensions: 0,
    },
    expect: {old: 'paws-reject', current: 'paws-reject'},
  },
  ...(['0', '1'] as const).map(
    (reuse): CrossKernelScenario => ({
      id: `client-exhaustion-reuse${reuse}`,
      title: `client closes first, 1000-port range, 100/s, tcp_tw_reuse=${reuse}`,
      job: {
        flow: flow({name: `client-exhaustion-reuse${reuse}`, role: 'client', qps: 100, closes_first: 'client'}),
        facts: facts({'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': reuse}),
        remedy: 'none',
        phaseSeconds: 13,
        warmupSeconds: 0,
        maxExtensions: 0,
      },
      expect: reuse === '0' ? {old: 'client-exhaustion', current: 'client-exhaustion'} : {old: 'none', current: 'none'},
    }),
  ),
]
