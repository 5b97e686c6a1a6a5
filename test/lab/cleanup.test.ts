/**
 * The lab leaves nothing behind: namespaces and driver processes go on success, error, SIGINT
 * and SIGTERM, and a run removes what a killed run left. Needs root (CI runs as root) and, for
 * the signal tests, the built CLI (`npm test` builds first).
 */
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect, it} from 'vitest'

import {runLab} from '../../src/lab/run.js'
import {listLabNs, removeNs, removeStale, run} from '../../src/lab/system.js'
import {rootSuite} from '../root.js'
import {buildDriver, facts, flow, leftovers} from './helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')

/** A pid that is certainly gone: a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  return Number(r.stdout.toString())
}

/** Processes running the built lab driver (a killed run must leave none). */
function driverProcesses(): number[] {
  const driver = join(ROOT, 'dist', 'lab', 'driver.js')
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(driver)
      } catch {
        return false
      }
    })
    .map(Number)
}

rootSuite('lab cleanup', 'network namespaces, signals to lab drivers', () => {
  it('removes namespaces left by a killed run, and leaves a live run\'s alone', async () => {
    const stale = `twlab-${deadPid()}-stale-client1`
    const sleeper = spawn('sleep', ['30'])
    const live = `twlab-${sleeper.pid}-live-client1`
    try {
      await run('ip', ['netns', 'add', stale])
      await run('ip', ['netns', 'add', live])
      const removed = await removeStale()
      expect(removed).toContain(stale)
      expect(removed).not.toContain(live)
      const {all} = await listLabNs()
      expect(all).not.toContain(stale)
      expect(all).toContain(live)
    } finally {
      sleeper.kill('SIGKILL')
      await removeNs(stale)
      await removeNs(live)
    }
  })

  it('removes its namespaces when the run fails', async () => {
    // A remedy sysctl the kernel rejects makes the second phase fail after its namespaces exist.
    const bad = {source: 'test', sysctl: {'net.ipv4.ip_local_port_range': '60999 1024'}, why: 'invalid on purpose'}
    await expect(
      runLab({flow: flow({qps: 20, closes_first: 'server'}), facts: facts({}), remedy: bad, phaseSeconds: 2, warmupSeconds: 0, driver: buildDriver()}),
    ).rejects.toThrow(/sysctl/)
    expect(await leftovers()).toEqual([])
  }, 60_000)

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`on ${signal}: kills the drivers, removes the namespaces, exits ${signal === 'SIGINT' ? 130 : 143}`, async () => {
      if (!existsSync(join(ROOT, 'dist', 'lab', 'driver.js')) || !existsSync(join(ROOT, 'dist', 'bundle'))) {
        throw new Error('the signal tests run the built CLI: run `npm run build` first (npm test does)')
      }
      const dir = mkdtempSync(join(tmpdir(), 'twlab-sig-'))
      const topo = join(dir, 'topology.yaml')
      writeFileSync(topo, 'flows:\n  - {name: sig, role: client, peer: "10.0.0.1:8080", qps: 50, closes_first: server}\n')
      const child = spawn(process.execPath, [BIN, 'lab', '-t', topo, '--duration', '30', '--remedy', 'none'], {stdio: ['ignore', 'pipe', 'pipe']})
      let err = ''
      child.stderr.on('data', (d: Buffer) => (err += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      const started = Date.now()
      while (!/connections at/.test(err) && Date.now() - started < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 100))
      expect(err).toMatch(/connections at/)
      const {all} = await listLabNs()
      expect(all.filter((n) => n.startsWith(`twlab-${child.pid}-`)).length).toBeGreaterThan(0)
      expect(driverProcesses().length).toBeGreaterThan(0)
      child.kill(signal)
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))])
      if (code === 'hung') child.kill('SIGKILL')
      expect(code).toBe(signal === 'SIGINT' ? 130 : 143)
      const after = await listLabNs()
      expect(after.all.filter((n) => n.startsWith(`twlab-${child.pid}-`))).toEqual([])
      expect(driverProcesses()).toEqual([])
    }, 60_000)
  }
})
