import {existsSync} from 'node:fs'
import {release} from 'node:os'
import {join} from 'node:path'

import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import type {FlowModel} from '../model/types.js'
import type {Flow} from '../topology/types.js'
import {PACKAGE_ROOT} from '../util/paths.js'
import type {Attempt} from './driver.js'
import {natRuleset, OBSERVE_SECONDS, phaseSecondsFor, planLab, SCALED_PHASE_SECONDS, type LabPlan, type PlanOptions, type ScaleReport} from './plan.js'
import {applyRemedy, modelFor, topRemedy, type LabRemedy} from './remedy.js'
import {applyNat} from './layer.js'
import {counterDeltas, failureCount, summarize, type PhaseStats} from './stats.js'
import {addNs, addVeth, exec, preflight, readCounters, removeNs, removeNsSync, removeStale, runIn, setSysctls} from './system.js'

export interface PhaseReport extends PhaseStats {
  /** Counter deltas over the phase, per namespace label (client1.., router, server). */
  counters: Record<string, Record<string, number>>
  /** Connections the server saw on a tuple it had seen within the TIME_WAIT length. */
  reused_tuples: number
  /** The same by age of the previous use, in 10 s buckets (0-10 s, 10-20 s, ...). */
  reused_by_age_10s: number[]
  seconds: number
}

export interface Prediction {
  harmful: boolean
  safe_qps: number | null
  verdict: string
  collision_share: number
  connects_before_failure: number | null
  margin: number | null
}

export interface Measured {
  harmful: boolean
  /** Failures and slow connects per attempt. */
  harm_share: number
  connects_before_failure: number | null
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
  prediction_after: Prediction | null
  measured_after: Measured | null
  agrees_after: boolean | null
}

export interface Progress {
  phase: 'before' | 'after'
  done: number
  total: number
}

export interface LabOptions extends PlanOptions {
  flow: Flow
  facts: Facts
  /** "top": the rules' (or model's) top remedy; "none": one phase only; or an explicit remedy. */
  remedy?: 'top' | 'none' | LabRemedy
  onProgress?: (p: Progress) => void
  onStep?: (line: string) => void
  /** The compiled driver (default dist/lab/driver.js); tests pass a freshly transpiled one. */
  driver?: string
  /** Run inside a user-mode Linux kernel instead of on this one (src/lab/uml.ts). */
  uml?: import('./uml.js').UmlOptions
}

/**
 * A measured share of failures plus stalls above this is "harmful". It matches the model's
 * collision budget (COLLISION_BUDGET, 1 %) to the order of magnitude of what the lab showed:
 * about 2 % stalls when senders share an address (KERNEL.md), none for one Linux client.
 */
export const MEASURED_HARM_SHARE = 0.002

export function driverPath(): string {
  const p = join(PACKAGE_ROOT, 'dist', 'lab', 'driver.js')
  if (!existsSync(p)) {
    throw new TwError('lab.driver', `the lab's traffic driver is not built (${p})`, {hint: 'run `npm run build` first'})
  }
  return p
}

/** Namespaces and processes alive right now, so every exit path can remove them. */
interface Live {
  ns: Set<string>
  procs: Set<{kill: (sig?: NodeJS.Signals) => boolean}>
}

export async function runLab(opts: LabOptions): Promise<LabReport> {
  // The uml layer boots a guest kernel that runs this same function inside it.
  if (opts.uml) return (await import('./uml.js')).runLabInUml(opts, opts.uml)
  preflight()
  const driver = opts.driver ?? driverPath()
  const kernel = release()
  const live: Live = {ns: new Set(), procs: new Set()}
  const {execaSync} = await import('execa')
  const onSignal = (sig: NodeJS.Signals) => {
    for (const p of live.procs) p.kill('SIGKILL')
    removeNsSync([...live.ns], execaSync)
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  const onInt = () => onSignal('SIGINT')
  const onTerm = () => onSignal('SIGTERM')
  process.once('SIGINT', onInt)
  process.once('SIGTERM', onTerm)
  try {
    const stale = await removeStale()
    if (stale.length > 0) opts.onStep?.(`removed ${stale.length} namespaces left by an earlier run`)
    const plan = planLab(opts.flow, opts.facts, opts)
    const runId = Math.random().toString(36).slice(2, 6)
    const model = modelFor(plan.flow, plan.facts, kernel)
    const needed = phaseSecondsFor(model)
    if (opts.phaseSeconds === undefined) {
      plan.phaseSeconds = needed
      if (plan.scaled) plan.scaled.phase_seconds = needed
      if (needed > SCALED_PHASE_SECONDS) {
        plan.notes.push(
          `each phase runs ${needed} s: a port or tuple first comes back after about ${Math.round(needed - OBSERVE_SECONDS)} s at this rate (ports / rate, which scaling keeps; TIME_WAIT stays 60 s)`,
        )
      }
    } else if (opts.phaseSeconds < needed - OBSERVE_SECONDS) {
      plan.notes.push(`phases of ${opts.phaseSeconds} s may end before a port or tuple comes back (about ${Math.round(needed - OBSERVE_SECONDS)} s): a quiet result proves little`)
    }

    const before = await runPhase(plan, null, `${runId}b`, driver, live, opts)
    const prediction = predict(model)
    if (plan.flow.role !== 'client' && plan.flow.closes_first === 'client') {
      plan.notes.push('the clients\' own settings are unknown for this role; the lab runs them with kernel defaults')
    }
    const measured = measure(before)

    let remedy: LabRemedy | null = null
    if (opts.remedy === undefined || opts.remedy === 'top') remedy = await topRemedy(plan.flow, plan.facts, kernel)
    else if (opts.remedy !== 'none') remedy = opts.remedy
    let after: PhaseReport | null = null
    let predictionAfter: Prediction | null = null
    let measuredAfter: Measured | null = null
    if (remedy) {
      const applied = applyRemedy(plan.flow, plan.facts, remedy)
      // scale 1: the values are already scaled (and the driver's rate check already passed).
      const planAfter = planLab(applied.flow, applied.facts, {...opts, scale: 1})
      // The same length as before, or longer when the remedied flow needs longer to show (the
      // remedy's plan is built from already-scaled values, so it is not scaled again).
      planAfter.phaseSeconds =
        opts.phaseSeconds === undefined ? Math.max(plan.phaseSeconds, phaseSecondsFor(modelFor(planAfter.flow, planAfter.facts, kernel))) : plan.phaseSeconds
      plan.notes.push(...planAfter.notes.map((n) => `after: ${n}`))
      after = await runPhase(planAfter, remedy, `${runId}a`, driver, live, opts)
      predictionAfter = predict(modelFor(planAfter.flow, planAfter.facts, kernel))
      measuredAfter = measure(after)
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
      agrees: prediction.harmful === measured.harmful,
      prediction_after: predictionAfter,
      measured_after: measuredAfter,
      agrees_after: predictionAfter && measuredAfter ? predictionAfter.harmful === measuredAfter.harmful : null,
    }
  } finally {
    for (const p of live.procs) p.kill('SIGKILL')
    await Promise.all([...live.ns].map((ns) => removeNs(ns)))
    process.removeListener('SIGINT', onInt)
    process.removeListener('SIGTERM', onTerm)
  }
}

export function predict(m: FlowModel): Prediction {
  const harmful = m.harmful || m.portExhaustion || m.natExhausted
  const verdict = m.portExhaustion
    ? 'port exhaustion (EADDRNOTAVAIL)'
    : m.harmful
      ? 'harmful TIME_WAIT collisions (resets, 1-3 s stalls)'
      : m.natExhausted
        ? 'NAT pool exhausted (SYNs dropped)'
        : m.benignCollisions
          ? 'benign collisions (accepted by ISN/timestamp)'
          : 'no pressure'
  return {
    harmful,
    safe_qps: m.safeQps === null ? null : Math.round(m.safeQps * 100) / 100,
    verdict,
    collision_share: Math.round(m.collisionShare * 10000) / 10000,
    connects_before_failure: m.connectsBeforeFailure,
    margin: Number.isFinite(m.margin) ? Math.round(m.margin * 100) / 100 : null,
  }
}

export function measure(p: PhaseReport): Measured {
  const harm = failureCount(p.failures) + p.slow
  const share = p.attempts > 0 ? harm / p.attempts : 0
  const firsts = p.connects_before_first_EADDRNOTAVAIL.filter((x): x is number => x !== null)
  return {
    harmful: share > MEASURED_HARM_SHARE,
    harm_share: Math.round(share * 10000) / 10000,
    connects_before_failure: firsts.length > 0 ? Math.min(...firsts) : null,
  }
}

async function runPhase(plan: LabPlan, remedy: LabRemedy | null, tag: string, driver: string, live: Live, opts: LabOptions): Promise<PhaseReport> {
  const phase = remedy ? 'after' : 'before'
  const ns = (role: string) => `twlab-${process.pid}-${tag}-${role}`
  const names = {
    clients: plan.clients.map((c) => ns(c.label)),
    router: ns('router'),
    server: ns('server'),
  }
  const all = [...names.clients, names.router, names.server]
  try {
    opts.onStep?.(`${phase}: building ${all.length} namespaces`)
    for (const n of all) {
      live.ns.add(n)
      await addNs(n)
    }
    for (const [i, c] of plan.clients.entries()) await addVeth(names.clients[i]!, 'eth0', names.router, c.ifRouter)
    await addVeth(names.server, 'eth0', names.router, 'srv')
    for (const [i, c] of plan.clients.entries()) {
      await runIn(names.clients[i]!, ['ip', '-batch', '-'], {input: `addr add ${c.addr}/24 dev eth0\nroute add default via ${c.gateway}\n`})
    }
    const routerCmds = [
      ...plan.clients.map((c) => `addr add ${c.routerAddr}/24 dev ${c.ifRouter}`),
      'addr add 198.19.0.1/24 dev srv',
      ...(plan.nat?.addresses ?? []).map((a) => `addr add ${a}/32 dev srv`),
    ]
    await runIn(names.router, ['ip', '-batch', '-'], {input: routerCmds.join('\n') + '\n'})
    await runIn(names.server, ['ip', '-batch', '-'], {
      input: [...plan.serverAddrs.map((a) => `addr add ${a}/24 dev eth0`), 'route add default via 198.19.0.1'].join('\n') + '\n',
    })

    // Sysctls: as declared for the host's role, then the remedy on the same namespace.
    const role = plan.flow.role
    const remedySys = remedy?.sysctl ?? {}
    const clientSys = {...plan.sysctls.client, ...(role === 'client' ? remedySys : {})}
    const serverSys = {...plan.sysctls.server, ...(role === 'server' ? remedySys : {})}
    const routerSys = {...plan.sysctls.router, ...(role === 'nat' ? remedySys : {})}
    const {['net.netfilter.nf_conntrack_tcp_timeout_time_wait']: ctTimeWait, ...routerPlain} = routerSys
    const ruleset = natRuleset(plan)
    if (ruleset) await applyNat(names.router, ruleset, runIn)
    const absent = [
      ...(await Promise.all(names.clients.map((n) => setSysctls(n, clientSys)))).flat(),
      ...(await setSysctls(names.server, serverSys)),
      ...(await setSysctls(names.router, routerPlain)),
    ]
    // The conntrack knob exists in the router's namespace once the NAT table has loaded conntrack.
    if (ctTimeWait !== undefined && ruleset) await setSysctls(names.router, {'net.netfilter.nf_conntrack_tcp_timeout_time_wait': ctTimeWait})
    if (absent.length > 0) plan.notes.push(`not on this kernel, not set: ${[...new Set(absent)].join(', ')}`)

    // Server, then counters, then the clients.
    const execa = await exec()
    const closes = plan.flow.closes_first
    const serverProc = execa(
      'ip',
      ['netns', 'exec', names.server, process.execPath, driver, 'server', '--listen', plan.serverAddrs.map((a) => `${a}:${plan.serverPort}`).join(','), '--closes', closes, '--max-seconds', String(Math.ceil(plan.phaseSeconds + (plan.timeoutMs * 3) / 1000 + 30)), '--reuse-window', '60'],
      {reject: false, buffer: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', timeout: (plan.phaseSeconds + 60) * 1000 + plan.timeoutMs * 3},
    )
    live.procs.add(serverProc)
    let serverOut = ''
    let serverErr = ''
    serverProc.stdout?.on('data', (d: Buffer) => (serverOut += d.toString()))
    serverProc.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()))
    await waitFor(() => serverOut.includes('ready\n'), 10_000, () => serverProc.exitCode !== null || serverErr !== '').catch(() => {
      throw new TwError('lab.server', `the lab's server did not start: ${serverErr.split('\n')[0] || 'no answer in 10 s'}`)
    })

    const counterNs: [string, string][] = [...plan.clients.map((c, i): [string, string] => [c.label, names.clients[i]!]), ['router', names.router], ['server', names.server]]
    const countersBefore = await Promise.all(counterNs.map(([, n]) => readCounters(n)))

    const target = plan.serverAddrs.map((a) => `${a}:${plan.serverPort}`).join(',')
    const done = plan.clients.map(() => 0)
    const counts = plan.clients.map((c) => Math.min(Math.round(c.rate * plan.phaseSeconds), 20_000))
    const total = counts.reduce((s, x) => s + x, 0)
    const started = Date.now()
    opts.onStep?.(`${phase}: ${total} connections at ${round2(plan.flow.qps)}/s for ${plan.phaseSeconds} s`)
    const results = await Promise.all(
      plan.clients.map(async (c, i) => {
        const proc = execa(
          'ip',
          ['netns', 'exec', names.clients[i]!, process.execPath, driver, 'client', '--target', target, '--rate', String(c.rate), '--count', String(counts[i]), '--seconds', String(plan.phaseSeconds), '--timeout-ms', String(plan.timeoutMs), '--closes', closes],
          {reject: false, buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: (plan.phaseSeconds + 30) * 1000 + plan.timeoutMs * 3},
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
    const seconds = (Date.now() - started) / 1000
    const countersAfter = await Promise.all(counterNs.map(([, n]) => readCounters(n)))

    serverProc.stdin?.end()
    serverProc.kill('SIGTERM')
    await waitFor(() => serverProc.exitCode !== null || /\{.*\}\n/.test(serverOut), 5000).catch(() => undefined)
    live.procs.delete(serverProc)
    let reused = 0
    let ages: number[] = []
    const sline = serverOut.split('\n').find((l) => l.startsWith('{'))
    if (sline) ({reused, ages} = JSON.parse(sline) as {reused: number; ages: number[]})

    const counters: Record<string, Record<string, number>> = {}
    counterNs.forEach(([label], i) => (counters[label] = counterDeltas(countersBefore[i]!, countersAfter[i]!)))
    return {...summarize(results), counters, reused_tuples: reused, reused_by_age_10s: ages, seconds: Math.round(seconds * 10) / 10}
  } finally {
    for (const p of live.procs) p.kill('SIGKILL')
    live.procs.clear()
    await Promise.all(all.map((n) => removeNs(n)))
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
