import type {Facts} from '../facts/types.js'
import type {Flow} from '../topology/types.js'
import {predictStallShare, type LabFlow} from './predict.js'
import {phaseLengths, type LabOptions, type LabReport} from './run.js'
import type {LabRemedy} from './remedy.js'

/**
 * The fidelity matrix: flows whose stall share the model predicts and the lab measures on this
 * kernel, each sized to decide within CI's time (rates of a few hundred connects/s, windows
 * from runLab's decideSeconds, warm-up only where the mechanism builds up slowly).
 * Addresses come from the lab's plan (198.18.0.0/15); peers here are only ports (and lo).
 */
export type ScenarioFlow = Omit<LabFlow, 'name'>

export interface Scenario {
  id: string
  title: string
  flow: ScenarioFlow
  /** The host's sysctls (the namespace that plays the flow's role). */
  sysctls: Record<string, string>
  /** Only the before phase is measured; a remedy scenario declares the remedied state itself. */
  remedy?: LabRemedy
  /**
   * Why CI leaves this scenario out of its matrix (`npm run fidelity` and `lab --fidelity` still
   * run it): a flow whose measured stall share sits within a small factor of the harm budget,
   * where a bounded window cannot promise a verdict on every run.
   */
  notInCi?: string
}

const SERVER = '198.19.0.2:8080'
const base = {keepalive: false, client_addresses: 1, senders: 1, server_endpoints: 1} as const
/** The default conntrack TIME_WAIT (120 s), as real NAT gateways keep it. */
const CT = 120

const natRemap = {
  ...base,
  role: 'server',
  peer: SERVER,
  qps: 100,
  closes_first: 'server',
  senders: 2,
  // A 250-port pool outside the senders' own range: every SYN is sent from a remapped port,
  // and a tuple comes back to the other sender about every 2.5 s, inside the server's 60 s.
  nat: {port_range: [20000, 20249], conntrack_time_wait: CT, port_mode: 'preserve'},
} satisfies ScenarioFlow

const preserveOwn = {
  ...base,
  role: 'server',
  peer: SERVER,
  qps: 100,
  closes_first: 'server',
  senders: 2,
  // Each sender has its own 1000 ports and re-uses them every ~10 s; Linux SNAT without a range
  // keeps them, as they never clash. (Senders sharing one range clash, and the NAT remaps the
  // loser of each clash: whyPreserveRfc1337 below.)
  client_port_range: [40000, 40999],
  sender_port_ranges: [
    [40000, 40999],
    [41000, 41999],
  ],
  nat: {port_range: [1024, 65535], conntrack_time_wait: CT, port_mode: 'preserve'},
} satisfies ScenarioFlow

/**
 * The two flows of issue 10's "Why" (examples/why-remap-nots, examples/why-preserve-rfc1337),
 * as declared there: the old rules called both critical, the harm model calls both harmless.
 * A: two senders remapped into a 1000-port pool that comes back every 8 s (125/s), server
 * without timestamps: the NAT (6.5+) evicts a closing entry only for a SYN whose sequence number
 * is past the old one's, so the server's sequence check accepts it, and a rejection that does
 * happen is cleared by the RST and the SYN resent within milliseconds.
 */
export const whyRemapNots = {
  ...base,
  role: 'server',
  peer: SERVER,
  qps: 125,
  closes_first: 'server',
  senders: 2,
  nat: {port_range: [20000, 20999], conntrack_time_wait: CT, port_mode: 'preserve'},
} satisfies ScenarioFlow

/**
 * B: two senders on ONE shared port range (1000 ports: each re-uses its own ports every ~10 s)
 * behind a port-preserving SNAT without a range, server tcp_rfc1337=1. A sender keeps its port
 * unless the other used it within conntrack's 120 s; the loser is remapped at random into
 * 1024-65535 and lands on a tuple the server holds only in a "hole" (src/model/nat.ts).
 * At 100/s, not faster: at 136/s it measured 0.03-0.13 % from run to run on 6.18 (0.087 % over
 * 55,487 connects). The spread is stuck tuples (FlowModel.stuckTupleShare): with tcp_rfc1337=1
 * one can form in a run and fail 0.1 % of connects while it lasts, or none forms; the lab judges
 * stuck ports apart (run.ts, separatesStuck), so this scenario decides on every run and is in CI.
 */
export const whyPreserveRfc1337 = {
  ...base,
  role: 'server',
  peer: SERVER,
  qps: 100,
  closes_first: 'server',
  senders: 2,
  client_port_range: [40000, 40999],
  nat: {port_range: [1024, 65535], conntrack_time_wait: CT, port_mode: 'preserve'},
} satisfies ScenarioFlow

const fullyRandom = {
  ...base,
  role: 'server',
  peer: SERVER,
  qps: 120,
  closes_first: 'server',
  nat: {port_range: [20000, 20999], conntrack_time_wait: CT, port_mode: 'fully-random'},
} satisfies ScenarioFlow

const exhaust = (reuse: string, peer = SERVER): Pick<Scenario, 'flow' | 'sysctls'> => ({
  flow: {...base, role: 'client', peer, qps: 200, closes_first: 'client'},
  sysctls: {'net.ipv4.ip_local_port_range': '40000 40999', 'net.ipv4.tcp_tw_reuse': reuse},
})

export const SCENARIOS: Scenario[] = [
  {
    id: 'direct',
    title: 'one client, server closes first, ports back every ~2.5 s',
    flow: {...base, role: 'client', peer: SERVER, qps: 200, closes_first: 'server'},
    sysctls: {'net.ipv4.ip_local_port_range': '40000 40999'},
  },
  {id: 'nat-remap-ts', title: 'NAT remaps 2 senders into 250 ports at 100/s, server timestamps on', flow: natRemap, sysctls: {}},
  {id: 'nat-remap-nots', title: 'the same, server tcp_timestamps=0', flow: natRemap, sysctls: {'net.ipv4.tcp_timestamps': '0'}},
  {id: 'nat-remap-rfc1337', title: 'the same with timestamps, server tcp_rfc1337=1', flow: natRemap, sysctls: {'net.ipv4.tcp_rfc1337': '1'}},
  {id: 'nat-preserve-own', title: '2 senders behind a port-preserving NAT re-using their own ports', flow: preserveOwn, sysctls: {}},
  {id: 'nat-preserve-own-rfc1337', title: 'the same, server tcp_rfc1337=1', flow: preserveOwn, sysctls: {'net.ipv4.tcp_rfc1337': '1'}},
  {id: 'why-remap-nots', title: 'issue 10 Why A: 2 senders remapped into a 1000-port pool at 125/s, server tcp_timestamps=0', flow: whyRemapNots, sysctls: {'net.ipv4.tcp_timestamps': '0'}},
  {id: 'why-preserve-rfc1337', title: 'issue 10 Why B: 2 senders on one shared 1000-port range behind a port-preserving NAT, server tcp_rfc1337=1', flow: whyPreserveRfc1337, sysctls: {'net.ipv4.tcp_rfc1337': '1'}},
  {id: 'nat-fully-random-small', title: 'one sender, NAT fully-random into 1000 ports at 120/s', flow: fullyRandom, sysctls: {}},
  {
    id: 'nat-fully-random-full',
    title: 'one sender, NAT fully-random over the whole pool (1024-65535)',
    flow: {...fullyRandom, nat: {...fullyRandom.nat, port_range: [1024, 65535]}},
    sysctls: {},
  },
  {
    id: 'tw-buckets-remedy',
    title: 'nat-remap-ts with the server capped at tcp_max_tw_buckets=2 (the rules\' last-resort remedy)',
    flow: natRemap,
    sysctls: {'net.ipv4.tcp_max_tw_buckets': '2'},
  },
  {id: 'client-reuse-0', title: 'client closes first, 1000 ports at 200/s, tcp_tw_reuse=0', ...exhaust('0')},
  {id: 'client-reuse-1', title: 'the same, tcp_tw_reuse=1', ...exhaust('1')},
  {id: 'client-reuse-2', title: 'the same, tcp_tw_reuse=2 toward a non-loopback peer', ...exhaust('2')},
  {id: 'client-reuse-2-loopback', title: 'the same, tcp_tw_reuse=2 toward 127.0.0.1', ...exhaust('2', '127.0.0.1:8080')},
]

export function scenarioFacts(s: Scenario): Facts {
  return {source: `scenario ${s.id}`, kernel: null, sysctls: {'net.ipv4.tcp_timestamps': '1', ...s.sysctls}, counters: {}}
}

export interface FidelityRow {
  id: string
  title: string
  report: LabReport
  wall_seconds: number
}

/**
 * Run scenarios, `concurrency` at a time (each builds its own namespaces, tagged by index, so
 * they never meet). `run` is runLab or a stand-in (the uml lane injects its own kernel).
 */
export async function runFidelity(
  scenarios: Scenario[],
  run: (o: LabOptions) => Promise<LabReport>,
  opts: {concurrency?: number; driver?: string; onDone?: (row: FidelityRow) => void} = {},
): Promise<FidelityRow[]> {
  const rows: FidelityRow[] = new Array(scenarios.length)
  // Longest first (warm-up + one window, as runLab will size them): the slowest scenario does
  // not start last and hold the whole matrix up. Rows stay in the scenarios' order.
  const order = scenarios.map((s, i) => ({i, t: expectedSeconds(s)})).sort((a, b) => b.t - a.t).map((x) => x.i)
  let next = 0
  const worker = async () => {
    while (next < order.length) {
      const i = order[next++]!
      const s = scenarios[i]!
      const t0 = Date.now()
      const report = await run({
        flow: {...s.flow, name: s.id} as Flow,
        facts: scenarioFacts(s),
        remedy: s.remedy ?? 'none',
        tag: `f${i}`,
        ...(opts.driver ? {driver: opts.driver} : {}),
      })
      const row = {id: s.id, title: s.title, report, wall_seconds: Math.round((Date.now() - t0) / 100) / 10}
      rows[i] = row
      opts.onDone?.(row)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(opts.concurrency ?? 3, scenarios.length))}, worker))
  return rows
}

/** Warm-up plus one window for a scenario, as runLab sizes them (the kernel does not change them). */
export function expectedSeconds(s: Scenario): number {
  const flow = {...s.flow, name: s.id} as Flow
  const l = phaseLengths(predictStallShare(flow, scenarioFacts(s), '6.18'), flow.qps, {scaled: false})
  return l.warmupSeconds + l.windowSeconds
}

/** The README's matrix: predicted vs measured stall share with its interval, one line each. */
export function fidelityTable(rows: FidelityRow[], kernel: string): string {
  const pct = (x: number) => `${x === 0 ? '0' : Number((x * 100).toPrecision(3))} %`
  const lines = [
    `Measured on kernel ${kernel} by \`npm run fidelity\` (stall = connect failed or over 500 ms; 95 % Wilson interval; harm budget 0.1 %).`,
    '',
    '| scenario | predicted | measured | 95 % interval | attempts | verdict | agrees |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const m = r.report.measured
    const p = r.report.prediction
    const agrees = r.report.agrees ? (r.report.agreement === 'verdict' ? 'yes (verdict)' : 'yes') : 'NO'
    // Where a tuple can stick, the predicted share is judged on the other ports (run.ts, agreementOf).
    const o = m.outside_stuck
    const judged = o ?? {stall_share: m.stall_share, interval: m.interval, attempts: m.attempts, verdict: m.verdict}
    const measured = o ? `${pct(o.stall_share)} off ${m.stuck_ports} stuck port${m.stuck_ports === 1 ? '' : 's'} (all ports: ${pct(m.stall_share)})` : pct(m.stall_share)
    lines.push(`| ${r.id}: ${r.title} | ${pct(p.stall_share)} | ${measured} | [${pct(judged.interval[0])}, ${pct(judged.interval[1])}] | ${judged.attempts} | ${judged.verdict} | ${agrees} |`)
  }
  return lines.join('\n') + '\n'
}
