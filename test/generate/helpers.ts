// Shared by the generate tests: hand-made reports, the real 6.18 dump as facts, scratch network
// namespaces for loading generated files with the real `sysctl -p`, and scratch directories.
import {execFileSync} from 'node:child_process'
import {lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {TwError} from '../../src/errors.js'
import {parseSysctlConf} from '../../src/generate/boot.js'
import {hasTwadvisorHeader} from '../../src/generate/header.js'
import {factsFromDump} from '../../src/sources/dump.js'
import type {Facts} from '../../src/facts/types.js'
import type {Finding, HostReport, Remedy} from '../../src/rules/types.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const FIXTURE = join(ROOT, 'test', 'fixtures', 'sysctl-6.18.44.txt')

export function fixtureFacts(): Facts {
  return factsFromDump(readFileSync(FIXTURE, 'utf8'), FIXTURE)
}

export function remedy(partial: Partial<Remedy> & {why: string}): Remedy {
  return {after: {}, ...partial}
}

export function finding(id: string, remedies: Remedy[], extra: Partial<Finding> = {}): Finding {
  return {id, severity: 'critical', title: id, message: id, evidence: {}, remedies, references: [], ...extra}
}

export function report(findings: Finding[], extra: Partial<HostReport> = {}): HostReport {
  return {host: 'php-01', kernel: '6.18.44-fc-v669', source: FIXTURE, findings, ...extra}
}

/** The incident's two remedies as the engine hands them over: a server-side cap and a wider client range. */
export function incidentReport(): HostReport {
  return report([
    finding('server-tw-collision-shared', [
      remedy({action: 'enable keep-alive', flow: {keepalive: true}, why: 'Reused connections open no new 4-tuples.'}),
      remedy({sysctl: {'net.ipv4.tcp_max_tw_buckets': '5000'}, why: 'With at most 5000 entries in TIME_WAIT,\n a reused tuple finds one in at most 1 % of new connections.'}),
    ], {flow: 'api-to-php'}),
    finding('client-port-exhaustion', [
      remedy({sysctl: {'net.ipv4.ip_local_port_range': '10000\t65535'}, why: 'More source ports toward the cache.'}),
    ], {flow: 'php-to-cache'}),
  ])
}

export function scratchDir(prefix = 'twgen-'): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})}
}

let nsCounter = 0

/** A fresh network namespace for the callback, always deleted afterwards. */
export async function withNetns<T>(fn: (ns: string) => Promise<T> | T): Promise<T> {
  const ns = `twgen-${process.pid}-${++nsCounter}`
  execFileSync('ip', ['netns', 'add', ns])
  try {
    return await fn(ns)
  } finally {
    execFileSync('ip', ['netns', 'delete', ns])
  }
}

export function nsSysctl(ns: string, key: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-n', key], {encoding: 'utf8'}).trim().split(/\s+/).join(' ')
}

/**
 * Loads a generated sysctl.d text with the real `sysctl -p` inside a scratch namespace and
 * returns every key read back. Throws when sysctl -p fails (it exits non-zero on any bad line).
 */
export async function loadInNetns(text: string, keys: string[]): Promise<Record<string, string>> {
  const {dir, cleanup} = scratchDir()
  try {
    const file = join(dir, '60-twadvisor.conf')
    writeFileSync(file, text)
    return await withNetns((ns) => {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-p', file], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
      return Object.fromEntries(keys.map((k) => [k, nsSysctl(ns, k)]))
    })
  } finally {
    cleanup()
  }
}

/** The TwError a promise rejects with; fails the test when it resolves or throws something else. */
export async function refusal(p: Promise<unknown>): Promise<TwError> {
  try {
    await p
  } catch (e) {
    if (e instanceof TwError) return e
    throw e
  }
  throw new Error('expected a refusal')
}

/**
 * Every generated sysctl.d file a test left in DIR (twadvisor header, *.conf, not a symlink) is
 * loaded with the real `sysctl -p` in a scratch namespace, and each of its keys must read back
 * with the value the file gives. Returns how many files were checked.
 */
export async function assertGeneratedFilesLoad(dir: string): Promise<number> {
  let checked = 0
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    if (!name.endsWith('.conf') || !lstatSync(file).isFile()) continue
    const text = readFileSync(file, 'utf8')
    if (!hasTwadvisorHeader(text) || !text.includes('(target sysctl.d)')) continue
    const wanted = Object.fromEntries(parseSysctlConf(text, file).map((s) => [s.key, s.value]))
    const back = await loadInNetns(text, Object.keys(wanted))
    if (JSON.stringify(back) !== JSON.stringify(wanted)) throw new Error(`${file} did not load as written: ${JSON.stringify(back)} != ${JSON.stringify(wanted)}`)
    checked++
  }
  return checked
}
