/**
 * runLab through an injected LabHost (no root, no kernel): the phase logic on its own — warm-up
 * not counted, windows extended while the interval straddles the budget, at most 3 times and
 * reported, namespaces removed on the way out. The uml lane injects a real host the same way.
 */
import {PassThrough} from 'node:stream'

import {describe, expect, it} from 'vitest'

import type {Attempt} from '../../src/lab/driver.js'
import {MAX_EXTENSIONS, runLab} from '../../src/lab/run.js'
import type {DriverProc, LabHost} from '../../src/lab/system.js'
import {facts, flow} from './helpers.js'

/** A host whose clients report `stallsPerRun[i]` slow connects out of `count` on their i-th run. */
function fakeHost(stallsPerRun: number[]): {host: LabHost; calls: string[]; removed: string[]; runs: () => number} {
  const calls: string[] = []
  const removed: string[] = []
  let clientRuns = 0
  const proc = (out: string, exitLater: boolean): DriverProc => {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const p: DriverProc & {exitCode: number | null} = {
      stdout,
      stderr,
      stdin: new PassThrough(),
      exitCode: null,
      kill: () => {
        if (exitLater) setImmediate(() => stdout.write('{"accepted":1,"reused":7,"ages":[7,0,0,0,0,0]}\n'))
        p.exitCode = 0
        return true
      },
      then: (ok, ko) => new Promise((r) => setTimeout(r, 5)).then(ok, ko),
    }
    setImmediate(() => stdout.write(out))
    return p
  }
  const host: LabHost = {
    kernel: () => '6.18.0-fake',
    preflight: () => calls.push('preflight'),
    removeStale: async () => [],
    addNs: async (ns) => void calls.push(`addNs ${ns}`),
    addVeth: async () => void calls.push('addVeth'),
    runIn: async (_ns, args) => (calls.push(`runIn ${args[0]}`), ''),
    setSysctls: async () => [],
    readCounters: async () => ({TcpPassiveOpens: 0}),
    removeNs: async (ns) => void removed.push(ns),
    removeNsSync: () => undefined,
    spawnDriver: (ns, args) => {
      if (args[0] === 'server') return proc('ready\n', true)
      const count = Number(args[args.indexOf('--count') + 1])
      const stalls = stallsPerRun[clientRuns++] ?? 0
      const attempts: Attempt[] = Array.from({length: count}, (_, i) => [i, i < stalls ? 1003 : 0.3, 'ok', 40000 + i])
      return proc(`${JSON.stringify({attempts})}\n`, false)
    },
  }
  return {host, calls, removed, runs: () => clientRuns}
}

const f = flow({name: 'fake', role: 'client', qps: 100, closes_first: 'server'})

describe('runLab through an injected host', () => {
  it('does not count the warm-up, and stops at the first window that decides', async () => {
    // Warm-up run: 50 stalls (ignored). First window: 0 of 4,500: benign at once.
    const {host, removed, runs} = fakeHost([50, 0])
    const r = await runLab({flow: f, facts: facts({}), remedy: 'none', warmupSeconds: 3, host})
    expect(runs()).toBe(2)
    expect(r.kernel).toBe('6.18.0-fake')
    expect(r.before.warmup_seconds).toBe(3)
    expect(r.before.window_seconds).toBe(45)
    expect(r.before.extensions).toBe(0)
    expect(r.measured).toMatchObject({attempts: 4500, stall_share: 0, harmful: false, verdict: 'benign'})
    expect(r.before.reused_tuples).toBe(7)
    expect(r.agrees).toBe(true)
    expect(removed.length).toBeGreaterThan(0)
  })

  it('extends an undecided window, at most 3 times, says so, and then reports inconclusive (null)', async () => {
    // 5 stalls in every 4,500: 0.11 %, always straddling 0.1 %.
    const {host, runs} = fakeHost([0, 5, 5, 5, 5, 5, 5])
    const r = await runLab({flow: f, facts: facts({}), remedy: 'none', warmupSeconds: 1, host})
    expect(runs()).toBe(1 + 1 + MAX_EXTENSIONS)
    expect(r.before.extensions).toBe(MAX_EXTENSIONS)
    expect(r.measured.attempts).toBe(4500 * (1 + MAX_EXTENSIONS))
    expect(r.measured.harmful).toBeNull()
    expect(r.measured.verdict).toBe('inconclusive')
    expect(r.agrees).toBe(false)
    expect(r.notes).toContain(`before: ${MAX_EXTENSIONS} more windows of 45 s to decide`)
  })

  it('an extension that decides ends the phase early', async () => {
    // 2 in the first 4,500 (undecided: [0.012 %, 0.16 %]), none in the next: 2 of 9,000 is benign.
    const {host, runs} = fakeHost([0, 2, 0, 9, 9])
    const r = await runLab({flow: f, facts: facts({}), remedy: 'none', warmupSeconds: 1, host})
    expect(runs()).toBe(3)
    expect(r.before.extensions).toBe(1)
    expect(r.measured).toMatchObject({attempts: 9000, harmful: false})
  })
})
