import {existsSync} from 'node:fs'
import {release} from 'node:os'
import {join} from 'node:path'

import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import type {FlowModel} from '../model/types.js'
import type {Flow} from '../topology/types.js'
import {PACKAGE_ROOT} from '../util/paths.js'
import type {Attempt} from './driver.js'
import {MAX_ATTEMPTS_PER_PHASE, natRuleset, planLab, SCALED_PHASE_SECONDS, type LabPlan, type PlanOptions, type ScaleReport} from './plan.js'
import {HARM_BUDGET, predictStallShare, type StallPrediction} from './predict.js'
import {applyRemedy, modelFor, topRemedy, type LabRemedy} from './remedy.js'
import {AGREE_FACTOR, agreement, CHANCE_STUCK_PORTS, chanceStuckPorts, counterDeltas, summarize, verdictOf, wilson, type Agreement, type PhaseStats, type Verdict} from './stats.js'
import {localHost, type LabHost} from './system.js'
import {applyNat} from './layer.js'

export interface PhaseReport extends PhaseStats {
  /** Counter deltas over the measured windows, per namespace label (client1.., router, server). */
  counters: Record<string, Record<string, number>>
  /** Connections the server saw on a tuple it had seen within the TIME_WAIT length (null: its summary never came). */
  reused_tuples: number | null
  /** The same by age of the previous use, in 10 s buckets (0-10 s, 10-20 s, ...). */
  reused_by_age_10s: number[]
  /** Seconds the measured windows took (warm-up not included). */
  seconds: number
  /** Seconds of traffic before measuring, so the mechanism reached its steady state. */
  warmup_seconds: number
  /** Seconds of each measured window. */
  window_seconds: number
  /** Windows added because the first one could not decide (at most MAX_EXTENSIONS). */
  extensions: number
}

export interface Prediction {
  harmful: boolean
  safe_qps: number | null
  verdict: string
  collision_share: number
  connects_before_failure: number | null
  margin: number | null
  /** Predicted share of connects that fail or take over 500 ms (the harm definition). */
  stall_share: number
  reset_share: number
  timeout_share: number
  harm_budget: number
  mechanism: string
  assumptions: string[]
  /** Share of connects one stuck tuple fails; 0 where the model says none can stick (StallPrediction). */
  stuck_tuple_share: number
}

/** The stall share on the ports that did not stick, judged as `Measured` judges all of them. */
export interface OutsideStuck {
  stall_share: number
  interval: [number, number]
  verdict: Verdict
  attempts: number
}

export interface Measured {
  /** true: the 95 % interval lies above the harm budget; false: below; null: undecided. */
  harmful: boolean | null
  verdict: Verdict
  /** Failures and slow connects per attempt (the same as stall_share, kept for its old readers). */
  harm_share: number
  stall_share: number
  /** 95 % Wilson interval of stall_share. */
  interval: [number, number]
  reset_share: number
  timeout_share: number
  attempts: number
  connects_before_failure: number | null
  /** Source ports with STUCK_MIN_STALLS stalls or more (stuck tuples: FlowModel.stuckTupleShare), and their stalls. */
  stuck_ports: number
  stuck_stalls: number
  /**
   * Where the model says a tuple can stick: the ports that did not, which is what the predicted
   * stall_share is compared with (null elsewhere: all ports are). A stuck port's stalls are one
   * event repeated, not independent attempts, so they are checked apart: their share may not
   * exceed AGREE_FACTOR x stuck ports x the predicted cost of one.
   */
  outside_stuck: OutsideStuck | null
}

export interface LabReport {
  flow: string
  kernel: string
  scaled: ScaleReport | null
  notes: string[]
  before: PhaseReport
  remedy: LabRemedy | null
  after: PhaseReport | null
  prediction: Prediction
  measured: Measured
  agrees: boolean
  /** How `agrees` was decided: the predicted share against the interval, or (for a prediction below the lab's resolution) the verdicts alone. */
  agreement: Agreement['basis']
  prediction_after: Prediction | null
  measured_after: Measured | null
  agrees_after: boolean | null
  agreement_after: Agreement['basis'] | null
}

export interface Progress {
  phase: 'before' | 'after'
  done: number
  total: number
}

/** A window that cannot decide is repeated at most this many times before "inconclusive". */
export const MAX_EXTENSIONS = 3
/** Warm-up is capped here: TIME_WAIT (60 s) plus what it takes tuples to come round again. */
export const MAX_WARMUP_SECONDS = 75
export const MIN_WINDOW_SECONDS = 5
export const MAX_WINDOW_SECONDS = 60

export interface LabOptions extends PlanOptions {
  flow: Flow
  facts: Facts
  /** "top": the rules' top verified remedy; "none": one phase only; or an explicit remedy. */
  remedy?: 'top' | 'none' | LabRemedy
  /** Seconds of traffic before measuring (default: the prediction's steady state). */
  warmupSeconds?: number
  /** Windows added when undecided (default MAX_EXTENSIONS). */
  maxExtensions?: number
  onProgress?: (p: Progress) => void
  onStep?: (line: string) => void
  /** The compiled driver (default dist/lab/driver.js); tests pass a freshly transpiled one. */
  driver?: string
  /** Unique per concurrent run in one process: part of the namespace names (default random). */
  tag?: string
  /** Where namespaces and drivers live (default: this host, via `ip netns`). */
  host?: LabHost
  /** Run inside a user-mode Linux kernel instead of on this one (src/lab/uml.ts). */
  uml?: import('./uml.js').UmlOptions
}

export function driverPath(): string {
  const p = join(PACKAGE_ROOT, 'dist', 'lab', 'driver.js')
  if (!existsSync(p)) {
    throw new TwError('lab.driver', `the lab's traffic driver is not built (${p})`, {hint: 'run `npm run build` first'})
  }
  return p
}

/** Namespaces and processes alive right now, so every exit path can remove them. */
interface Live {
  host: LabHost
  ns: Set<string>
  procs: Set<{kill: (sig?: NodeJS.Signals) => boolean}>
}

/**
 * Runs in progress in this process (the fidelity matrix runs several at once). One signal
 * handler for all of them: on SIGINT/SIGTERM every run's drivers and namespaces go, then exit.
 */
const running = new Set<Live>()
const onSignal = (sig: NodeJS.Signals) => {
  for (const live of running) {
    for (const p of live.procs) p.kill('SIGKILL')
    live.host.removeNsSync([...live.ns])
  }
  process.exit(sig === 'SIGINT' ? 130 : 143)
}
const onInt = () => onSignal('SIGINT')
const onTerm = () => onSignal('SIGTERM')

function trackRun(live: Live): void {
  if (running.size === 0) {
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
  }
  running.add(live)
}

function untrackRun(live: Live): void {
  running.delete(live)
  if (running.size === 0) {
    process.removeListener('SIGINT', onInt)
    process.removeListener('SIGTERM', onTerm)
  }
}

/**
 * Seconds of window that can decide the predicted verdict at this rate: for a share below the
 * budget, enough attempts that none or a few stalls put the interval's top under it (Wilson
 * at 0 events: 3.84 / n); for a share above, enough to expect 10 stalls and at least 300
 * attempts. Bounded to [MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS].
 */
export function decideSeconds(predicted: number, budget: number, qps: number): number {
  const attempts = predicted > budget ? Math.max(300, 10 / predicted) : 4.5 / budget
  return Math.min(MAX_WINDOW_SECONDS, Math.max(MIN_WINDOW_SECONDS, Math.ceil(attempts / Math.max(qps, 1e-9))))
}

/** The phase lengths as run, and a note when a requested window was cut below what deciding needs. */
export function phaseLengths(
  pred: StallPrediction,
  qps: number,
  opts: {phaseSeconds?: number; warmupSeconds?: number; scaled: boolean},
): {warmupSeconds: number; windowSeconds: number; note: string | null} {
  const warmupSeconds = Math.min(MAX_WARMUP_SECONDS, opts.warmupSeconds ?? pred.steady_after_seconds)
  const needed = decideSeconds(pred.stall_share, pred.harm_budget, qps)
  const cap = opts.scaled ? SCALED_PHASE_SECONDS : Infinity
  const windowSeconds = Math.min(opts.phaseSeconds ?? needed, cap)
  let note: string | null = null
  // Judged on the window actually run (after the --scale cap), not on the one requested.
  if (windowSeconds < needed) {
    const asked = opts.phaseSeconds !== undefined && opts.phaseSeconds !== windowSeconds ? ` (asked ${opts.phaseSeconds} s, capped at ${cap} s with --scale)` : ''
    note = `phase too short: a window of ${windowSeconds} s${asked} is under the ${needed} s needed to decide at ${round2(qps)}/s; up to ${MAX_EXTENSIONS} more windows follow when it cannot`
  }
  return {warmupSeconds, windowSeconds, note}
}

export async function runLab(opts: LabOptions): Promise<LabReport> {
  // The uml layer boots a guest kernel that runs this same function inside it (src/lab/uml.ts).
  if (opts.uml) return (await import('./uml.js')).runLabInUml(opts, opts.uml)
  const driver = opts.driver ?? (opts.host ? 'driver.js' : driverPath())
  const host = opts.host ?? (await localHost(driver))
  host.preflight()
  const kernel = host.kernel?.() ?? release()
  const live: Live = {host, ns: new Set(), procs: new Set()}
  trackRun(live)
  try {
    const stale = await host.removeStale()
    if (stale.length > 0) opts.onStep?.(`removed ${stale.length} namespaces left by an earlier run`)
    const plan = planLab(opts.flow, opts.facts, opts)
    const runId = opts.tag ?? Math.random().toString(36).slice(2, 6)
    const model = modelFor(plan.flow, plan.facts, kernel)
    const stallBefore = predictStallShare(plan.flow, plan.facts, kernel)
    const lengths = phaseLengths(stallBefore, plan.flow.qps, {phaseSeconds: opts.phaseSeconds, warmupSeconds: opts.warmupSeconds, scaled: plan.scaled !== null})
    plan.phaseSeconds = lengths.windowSeconds
    if (plan.scaled) plan.scaled.phase_seconds = lengths.windowSeconds
    if (lengths.note) plan.notes.push(lengths.note)
    if (plan.flow.role !== 'client' && plan.flow.closes_first === 'client') {
      plan.notes.push('the clients\' own settings are unknown for this role; the lab runs them with kernel defaults')
    }
    const maxExtensions = opts.maxExtensions ?? MAX_EXTENSIONS

    const before = await runPhase(plan, null, `${runId}b`, live, opts, lengths.warmupSeconds, stallBefore.harm_budget, maxExtensions, stallBefore)
    const prediction = predict(model, predictStallShare(plan.flow, plan.facts, kernel, measuredWindow(before)))
    const measured = measure(before, prediction.harm_budget, separatesStuck(prediction, before))
    const agreeBefore = agreementOf(prediction, measured)
    if (before.extensions > 0) plan.notes.push(`before: ${before.extensions} more window${before.extensions > 1 ? 's' : ''} of ${before.window_seconds} s to decide`)

    let remedy: LabRemedy | null = null
    if (opts.remedy === undefined || opts.remedy === 'top') remedy = await topRemedy(plan.flow, plan.facts, kernel)
    else if (opts.remedy !== 'none') remedy = opts.remedy
    let after: PhaseReport | null = null
    let predictionAfter: Prediction | null = null
    let measuredAfter: Measured | null = null
    let agreeAfter: Agreement | null = null
    if (remedy) {
      const applied = applyRemedy(plan.flow, plan.facts, remedy)
      // scale 1: the values are already scaled (and the driver's rate check already passed).
      const planAfter = planLab(applied.flow, applied.facts, {...opts, scale: 1})
      const stallAfter = predictStallShare(planAfter.flow, planAfter.facts, kernel)
      const la = phaseLengths(stallAfter, planAfter.flow.qps, {phaseSeconds: opts.phaseSeconds, warmupSeconds: opts.warmupSeconds, scaled: plan.scaled !== null})
      planAfter.phaseSeconds = la.windowSeconds
      if (la.note) plan.notes.push(`after: ${la.note}`)
      plan.notes.push(...planAfter.notes.map((n) => `after: ${n}`))
      after = await runPhase(planAfter, remedy, `${runId}a`, live, opts, la.warmupSeconds, stallAfter.harm_budget, maxExtensions, stallAfter)
      if (after.extensions > 0) plan.notes.push(`after: ${after.extensions} more window${after.extensions > 1 ? 's' : ''} of ${after.window_seconds} s to decide`)
      predictionAfter = predict(
        modelFor(planAfter.flow, planAfter.facts, kernel),
        predictStallShare(planAfter.flow, planAfter.facts, kernel, measuredWindow(after)),
      )
      measuredAfter = measure(after, predictionAfter.harm_budget, separatesStuck(predictionAfter, after))
      agreeAfter = agreementOf(predictionAfter, measuredAfter)
    }
    return {
      flow: opts.flow.name,
      kernel,
      scaled: plan.scaled,
      notes: plan.notes,
      before,
      remedy,
      after,
      prediction,
      measured,
      agrees: agreeBefore.agrees,
      agreement: agreeBefore.basis,
      prediction_after: predictionAfter,
      measured_after: measuredAfter,
      agrees_after: agreeAfter ? agreeAfter.agrees : null,
      agreement_after: agreeAfter ? agreeAfter.basis : null,
    }
  } finally {
    for (const p of live.procs) p.kill('SIGKILL')
    await Promise.all([...live.ns].map((ns) => host.removeNs(ns)))
    untrackRun(live)
  }
}

/** The traffic the windows covered, for a prediction that depends on when it is measured. */
function measuredWindow(p: PhaseReport): {warmupSeconds: number; seconds: number} {
  return {warmupSeconds: p.warmup_seconds, seconds: p.window_seconds * (1 + p.extensions)}
}

export function predict(m: FlowModel, s: StallPrediction): Prediction {
  const harmful = s.stall_share > s.harm_budget
  const verdict = m.portExhaustion && harmful
    ? 'port exhaustion (EADDRNOTAVAIL)'
    : harmful
      ? `harmful: ${s.mechanism}`
      : m.collisionShare > 0
        ? `benign: ${s.mechanism}`
        : 'no pressure'
  return {
    harmful,
    safe_qps: m.safeQps === null ? null : Math.round(m.safeQps * 100) / 100,
    verdict,
    collision_share: Math.round(m.collisionShare * 10000) / 10000,
    connects_before_failure: m.connectsBeforeFailure,
    margin: Number.isFinite(m.margin) ? Math.round(m.margin * 100) / 100 : null,
    stall_share: round6(s.stall_share),
    reset_share: round6(s.reset_share),
    timeout_share: round6(s.timeout_share),
    harm_budget: s.harm_budget,
    mechanism: s.mechanism,
    assumptions: s.assumptions,
    stuck_tuple_share: s.stuck_tuple_share,
  }
}

/**
 * Judge stuck ports apart? Only where the model says a tuple can stick, and where independent
 * stalls at the predicted share would almost never pile STUCK_MIN_STALLS onto one port.
 */
export function separatesStuck(pr: Pick<StallPrediction, 'stuck_tuple_share' | 'stall_share'>, p: Pick<PhaseReport, 'attempts' | 'ports_used'>): boolean {
  return pr.stuck_tuple_share > 0 && chanceStuckPorts(pr.stall_share, p.attempts, p.ports_used) < CHANCE_STUCK_PORTS
}

/** Stalls and attempts the verdict is judged on: all, or (a stuck tuple possible) those off stuck ports. */
export function judgedCounts(p: Pick<PhaseReport, 'stalled' | 'attempts' | 'stuck_stalls'>, separateStuck: boolean): {stalled: number; attempts: number} {
  return separateStuck ? {stalled: p.stalled - p.stuck_stalls, attempts: p.attempts - p.stuck_stalls} : {stalled: p.stalled, attempts: p.attempts}
}

/** Agreement of a prediction with a measurement, stuck tuples judged apart where the model expects them. */
export function agreementOf(pr: Prediction, m: Measured): Agreement {
  const judged = m.outside_stuck ?? {interval: m.interval, verdict: m.verdict}
  const a = agreement(pr.stall_share, judged.interval, judged.verdict, pr.harm_budget)
  if (m.outside_stuck === null || m.stuck_ports === 0 || m.attempts === 0) return a
  const stuckShare = m.stuck_stalls / m.attempts
  return {...a, agrees: a.agrees && stuckShare <= AGREE_FACTOR * m.stuck_ports * pr.stuck_tuple_share}
}

export function measure(p: PhaseReport, budget: number = HARM_BUDGET, separateStuck = false): Measured {
  const interval = wilson(p.stalled, p.attempts)
  const verdict = verdictOf(interval, budget)
  const share = p.attempts > 0 ? p.stalled / p.attempts : 0
  const firsts = p.connects_before_first_EADDRNOTAVAIL.filter((x): x is number => x !== null)
  return {
    harmful: verdict === 'harmful' ? true : verdict === 'benign' ? false : null,
    verdict,
    harm_share: round6(share),
    stall_share: round6(share),
    interval: [round6(interval[0]), round6(interval[1])],
    reset_share: p.attempts > 0 ? round6(p.failures.reset / p.attempts) : 0,
    timeout_share: p.attempts > 0 ? round6(p.failures.timeout / p.attempts) : 0,
    attempts: p.attempts,
    connects_before_failure: firsts.length > 0 ? Math.min(...firsts) : null,
    stuck_ports: p.stuck_ports,
    stuck_stalls: p.stuck_stalls,
    outside_stuck: separateStuck ? outsideStuck(p, budget) : null,
  }
}

function outsideStuck(p: PhaseReport, budget: number): OutsideStuck {
  const {stalled, attempts} = judgedCounts(p, true)
  const interval = wilson(stalled, attempts)
  return {stall_share: round6(attempts > 0 ? stalled / attempts : 0), interval: [round6(interval[0]), round6(interval[1])], verdict: verdictOf(interval, budget), attempts}
}

async function runPhase(
  plan: LabPlan,
  remedy: LabRemedy | null,
  tag: string,
  live: Live,
  opts: LabOptions,
  warmupSeconds: number,
  budget: number,
  maxExtensions: number,
  /** The prediction, to judge stuck ports apart where it says they can stick (separatesStuck). */
  predicted: Pick<StallPrediction, 'stuck_tuple_share' | 'stall_share'> | null = null,
): Promise<PhaseReport> {
  const phase = remedy ? 'after' : 'before'
  const h = live.host
  const ns = (role: string) => `twlab-${process.pid}-${tag}-${role}`
  // A loopback flow runs client and server in one namespace, over lo (tcp_tw_reuse=2's case).
  const loopback = plan.loopback
  const names = {
    clients: plan.clients.map((c) => ns(c.label)),
    router: ns('router'),
    server: loopback ? ns(plan.clients[0]!.label) : ns('server'),
  }
  const all = loopback ? [...names.clients] : [...names.clients, names.router, names.server]
  try {
    opts.onStep?.(`${phase}: building ${all.length} namespaces`)
    for (const n of all) {
      live.ns.add(n)
      await h.addNs(n)
    }
    if (!loopback) {
      for (const [i, c] of plan.clients.entries()) await h.addVeth(names.clients[i]!, 'eth0', names.router, c.ifRouter)
      await h.addVeth(names.server, 'eth0', names.router, 'srv')
      for (const [i, c] of plan.clients.entries()) {
        await h.runIn(names.clients[i]!, ['ip', '-batch', '-'], {input: `addr add ${c.addr}/24 dev eth0\nroute add default via ${c.gateway}\n`})
      }
      const routerCmds = [
        ...plan.clients.map((c) => `addr add ${c.routerAddr}/24 dev ${c.ifRouter}`),
        'addr add 198.19.0.1/24 dev srv',
        ...(plan.nat?.addresses ?? []).filter((a) => a !== '198.19.0.1').map((a) => `addr add ${a}/32 dev srv`),
      ]
      await h.runIn(names.router, ['ip', '-batch', '-'], {input: routerCmds.join('\n') + '\n'})
      await h.runIn(names.server, ['ip', '-batch', '-'], {
        input: [...plan.serverAddrs.map((a) => `addr add ${a}/24 dev eth0`), 'route add default via 198.19.0.1'].join('\n') + '\n',
      })
    }

    // Sysctls: as declared for the host's role, then the remedy on the same namespace.
    const role = plan.flow.role
    const remedySys = remedy?.sysctl ?? {}
    const clientSys = {...plan.sysctls.client, ...(role === 'client' ? remedySys : {})}
    const serverSys = {...plan.sysctls.server, ...(role === 'server' ? remedySys : {})}
    const routerSys = {...plan.sysctls.router, ...(role === 'nat' ? remedySys : {})}
    const {['net.netfilter.nf_conntrack_tcp_timeout_time_wait']: ctTimeWait, ...routerPlain} = routerSys
    const ruleset = loopback ? null : natRuleset(plan)
    if (ruleset) await applyNat(names.router, ruleset, (ns, args, o) => h.runIn(ns, args, o))
    const absent = loopback
      ? await h.setSysctls(names.server, {...serverSys, ...clientSys})
      : [
          ...(
            await Promise.all(
              names.clients.map((n, i) => {
                const own = plan.clients[i]!.portRange
                return h.setSysctls(n, own ? {...clientSys, 'net.ipv4.ip_local_port_range': `${own[0]} ${own[1]}`} : clientSys)
              }),
            )
          ).flat(),
          ...(await h.setSysctls(names.server, serverSys)),
          ...(await h.setSysctls(names.router, routerPlain)),
        ]
    // The conntrack knob exists in the router's namespace once the NAT table has loaded conntrack.
    if (ctTimeWait !== undefined && ruleset) await h.setSysctls(names.router, {'net.netfilter.nf_conntrack_tcp_timeout_time_wait': ctTimeWait})
    if (absent.length > 0) plan.notes.push(`not on this kernel, not set: ${[...new Set(absent)].join(', ')}`)

    // Server, then the warm-up, then counters, then the measured windows.
    const closes = plan.flow.closes_first
    const longest = warmupSeconds + plan.phaseSeconds * (1 + maxExtensions) + (plan.timeoutMs * 3 * (2 + maxExtensions)) / 1000
    const serverProc = h.spawnDriver(
      names.server,
      ['server', '--listen', plan.serverAddrs.map((a) => `${a}:${plan.serverPort}`).join(','), '--closes', closes, '--max-seconds', String(Math.ceil(longest + 30)), '--reuse-window', '60'],
      {stdin: 'pipe', timeoutMs: (longest + 60) * 1000},
    )
    live.procs.add(serverProc)
    let serverOut = ''
    let serverErr = ''
    serverProc.stdout?.on('data', (d: Buffer) => (serverOut += d.toString()))
    let serverOutEnded = false
    serverProc.stdout?.on('end', () => (serverOutEnded = true))
    serverProc.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()))
    await waitFor(() => serverOut.includes('ready\n'), 10_000, () => serverProc.exitCode !== null || serverErr !== '').catch(() => {
      throw new TwError('lab.server', `the lab's server did not start: ${serverErr.split('\n')[0] || 'no answer in 10 s'}`)
    })

    const target = plan.serverAddrs.map((a) => `${a}:${plan.serverPort}`).join(',')
    /** One run of every client for `seconds`, concurrently; their attempts per client. */
    const drive = async (seconds: number, label: string): Promise<Attempt[][]> => {
      const done = plan.clients.map(() => 0)
      const counts = plan.clients.map((c) => Math.min(Math.round(c.rate * seconds), MAX_ATTEMPTS_PER_PHASE))
      const total = counts.reduce((s, x) => s + x, 0)
      opts.onStep?.(`${phase}: ${label}${total} connections at ${round2(plan.flow.qps)}/s for ${seconds} s`)
      return Promise.all(
        plan.clients.map(async (c, i) => {
          const proc = h.spawnDriver(
            names.clients[i]!,
            ['client', '--target', target, '--rate', String(c.rate), '--count', String(counts[i]), '--seconds', String(seconds), '--timeout-ms', String(plan.timeoutMs), '--closes', closes],
            {stdin: 'ignore', timeoutMs: (seconds + 30) * 1000 + plan.timeoutMs * 3},
          )
          live.procs.add(proc)
          let out = ''
          let err = ''
          proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
          proc.stderr?.on('data', (d: Buffer) => {
            err += d.toString()
            const last = [...err.matchAll(/progress (\d+) \d+\n/g)].pop()
            if (last) {
              done[i] = Number(last[1])
              opts.onProgress?.({phase, done: done.reduce((s, x) => s + x, 0), total})
              // Keep only what follows the last progress line (error text, if any).
              err = err.slice((last.index ?? 0) + last[0].length)
            }
            if (err.length > 100_000) err = err.slice(-1000)
          })
          await proc
          live.procs.delete(proc)
          const line = out.trim().split('\n').pop() ?? ''
          try {
            return (JSON.parse(line) as {attempts: Attempt[]}).attempts
          } catch {
            const why = err.split('\n').find((l) => l && !l.startsWith('progress')) ?? `exit ${String(proc.exitCode)}`
            throw new TwError('lab.client', `the lab's client in ${c.label} gave no result: ${why}`)
          }
        }),
      )
    }

    // Warm-up: traffic until the mechanism is in its steady state; its attempts are not counted.
    if (warmupSeconds > 0) await drive(warmupSeconds, 'warm-up: ')
    const counterNs: [string, string][] = loopback
      ? [[plan.clients[0]!.label, names.clients[0]!]]
      : [...plan.clients.map((c, i): [string, string] => [c.label, names.clients[i]!]), ['router', names.router], ['server', names.server]]
    const countersBefore = await Promise.all(counterNs.map(([, n]) => h.readCounters(n)))
    const started = Date.now()
    // Measured windows: one, then more while the interval straddles the budget (bounded).
    const results: Attempt[][] = plan.clients.map(() => [])
    let extensions = 0
    for (let w = 0; w <= maxExtensions; w++) {
      const got = await drive(plan.phaseSeconds, w === 0 ? '' : `extension ${w}: `)
      got.forEach((a, i) => results[i]!.push(...a.map((x): Attempt => [x[0] + w * plan.phaseSeconds * 1000, x[1], x[2], x[3]])))
      const sofar = summarize(results)
      const j = judgedCounts(sofar, predicted !== null && separatesStuck(predicted, sofar))
      if (verdictOf(wilson(j.stalled, j.attempts), budget) !== 'inconclusive' || w === maxExtensions) break
      extensions++
    }
    const seconds = (Date.now() - started) / 1000
    const countersAfter = await Promise.all(counterNs.map(([, n]) => h.readCounters(n)))

    serverProc.stdin?.end()
    serverProc.kill('SIGTERM')
    // The server prints its summary and exits; on a loaded machine that can take seconds.
    // Its exit can come before the last of its output is read: wait for the output's end, not the exit.
    await waitFor(() => /\{.*\}\n/.test(serverOut) || serverOutEnded, 15_000).catch(() => undefined)
    live.procs.delete(serverProc)
    let reused: number | null = null
    let ages: number[] = []
    const sline = serverOut.split('\n').find((l) => l.startsWith('{'))
    if (sline) ({reused, ages} = JSON.parse(sline) as {reused: number; ages: number[]})
    else plan.notes.push(`${phase}: the lab's server gave no summary (tuples reused unknown)${serverErr ? `: ${serverErr.split('\n')[0]}` : ''}`)

    const counters: Record<string, Record<string, number>> = {}
    counterNs.forEach(([label], i) => (counters[label] = counterDeltas(countersBefore[i]!, countersAfter[i]!)))
    return {
      ...summarize(results),
      counters,
      reused_tuples: reused,
      reused_by_age_10s: ages,
      seconds: Math.round(seconds * 10) / 10,
      warmup_seconds: warmupSeconds,
      window_seconds: plan.phaseSeconds,
      extensions,
    }
  } finally {
    for (const p of live.procs) p.kill('SIGKILL')
    live.procs.clear()
    await Promise.all(all.map((n) => h.removeNs(n)))
    for (const n of all) live.ns.delete(n)
  }
}

/** Poll a condition, bounded in time; `fail` ends the wait early. */
async function waitFor(cond: () => boolean, ms: number, fail: () => boolean = () => false): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end || fail()) throw new Error('timeout')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100
const round6 = (x: number) => Math.round(x * 1e6) / 1e6
