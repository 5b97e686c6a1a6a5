import {readdirSync, readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {isMainThread, parentPort, Worker, workerData} from 'node:worker_threads'

import type {HostInput} from '../check.js'
import {isTwError, TwError} from '../errors.js'
import {RELEVANT_KEYS} from '../facts/keys.js'
import type {Facts} from '../facts/types.js'
import {parseTopology} from '../topology/load.js'
import {PACKAGE_ROOT} from '../util/paths.js'
import {parseProcNet, parseSockstatTimeWait} from './counters.js'
import {factsFromDump} from './dump.js'

/**
 * `check --hosts DIR`: one folder per host, named after it, as the Ansible role writes them on
 * the controller:
 *
 *   DIR/<host>/sysctl.txt      `sysctl -a` output (required)
 *   DIR/<host>/topology.yaml   the host's flows (required)
 *   DIR/<host>/netstat.txt     /proc/net/netstat (optional, merged into facts.counters)
 *   DIR/<host>/snmp.txt        /proc/net/snmp (optional, merged into facts.counters)
 *   DIR/<host>/sockstat.txt    /proc/net/sockstat (optional, TIME_WAIT socket count)
 *
 * A host that cannot be read becomes a HostReadError for that host, with the file (and line,
 * when the parser knows it) in its message; the other hosts are read as usual.
 */
export interface HostReadError {
  label: string
  source: string
  error: {code: string; message: string}
}

export const HOST_FILES = {
  sysctl: 'sysctl.txt',
  topology: 'topology.yaml',
  netstat: 'netstat.txt',
  snmp: 'snmp.txt',
  sockstat: 'sockstat.txt',
} as const

/**
 * Parsing is the cost (about 1 ms a host: the ~1,300-line dump, then the YAML), reading is
 * not: a large fleet is parsed in worker threads, one per core. Below this many hosts, starting
 * the workers (each loads the YAML parser and the schema validator) costs more than it saves.
 */
const WORKER_THRESHOLD_HOSTS = 400
const MAX_WORKERS = 4

interface WorkerJob {
  kind: 'twadvisor-read-hosts'
  dir: string
  names: string[]
}

export async function readHostsDir(dir: string, opts: {workers?: number} = {}): Promise<(HostInput | HostReadError)[]> {
  const names = hostFolders(dir)
  const workers = opts.workers ?? (names.length < WORKER_THRESHOLD_HOSTS ? 0 : Math.min(availableParallelism(), MAX_WORKERS))
  if (workers <= 1) return names.map((name) => readHost(join(dir, name), name))

  // Contiguous slices keep the output in name order once concatenated.
  const size = Math.ceil(names.length / workers)
  const slices = Array.from({length: workers}, (_, i) => names.slice(i * size, (i + 1) * size)).filter((s) => s.length > 0)
  // A worker that cannot start (no dist/ beside a repackaged bundle, a thread limit) costs speed,
  // not the run: its slice is read here instead.
  const parts = await Promise.all(
    slices.map((slice) => readInWorker(dir, slice).catch(() => slice.map((name) => readHost(join(dir, name), name)))),
  )
  return parts.flat()
}

/** Host folders in name order; hidden entries (.git, editor files) and plain files are not hosts. */
function hostFolders(dir: string): string[] {
  let entries
  try {
    entries = readdirSync(dir, {withFileTypes: true})
  } catch (error) {
    throw new TwError('hosts.read', `cannot read hosts directory: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      position: {file: dir},
      hint: 'DIR holds one folder per host, each with sysctl.txt and topology.yaml',
    })
  }
  const names = entries
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink()))
    .map((e) => e.name)
    .sort()
  if (names.length === 0) {
    throw new TwError('hosts.empty', 'no host folders', {
      position: {file: dir},
      hint: 'DIR holds one folder per host, each with sysctl.txt and topology.yaml',
    })
  }
  return names
}

function readInWorker(dir: string, names: string[]): Promise<(HostInput | HostReadError)[]> {
  // The compiled module (tsc's dist/, which ships beside the bundle) is the worker's entry: it
  // runs the block at the bottom of this file.
  const entry = join(PACKAGE_ROOT, 'dist', 'sources', 'hosts.js')
  const job: WorkerJob = {kind: 'twadvisor-read-hosts', dir, names}
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, {workerData: job})
    let result: (HostInput | HostReadError)[] | undefined
    worker.once('message', (m: (HostInput | HostReadError)[]) => (result = m))
    worker.once('error', (error) => reject(new TwError('hosts.worker', `reading host folders failed: ${error.message}`, {position: {file: dir}})))
    worker.once('exit', (code) => {
      if (result) resolve(result)
      else reject(new TwError('hosts.worker', `reading host folders failed (worker exit ${code})`, {position: {file: dir}}))
    })
  })
}

/** One host folder: every failure is returned as this host's error, never thrown. */
export function readHost(folder: string, label: string): HostInput | HostReadError {
  const sysctlFile = join(folder, HOST_FILES.sysctl)
  const topologyFile = join(folder, HOST_FILES.topology)
  // `current` names the file being handled, so an unexpected error still says where it happened.
  let current: string = sysctlFile
  try {
    const facts = trimToRelevant(factsFromDump(readRequired(sysctlFile), sysctlFile))
    current = topologyFile
    const topology = parseTopology(readRequired(topologyFile), topologyFile)
    for (const file of [HOST_FILES.netstat, HOST_FILES.snmp]) {
      current = join(folder, file)
      const text = readOptional(current)
      if (text !== undefined) Object.assign(facts.counters, parseProcNet(text))
    }
    current = join(folder, HOST_FILES.sockstat)
    const sockstat = readOptional(current)
    const tw = sockstat === undefined ? undefined : parseSockstatTimeWait(sockstat)
    if (tw !== undefined) facts.timeWaitSockets = tw
    return {facts, topology, label}
  } catch (error) {
    if (isTwError(error)) {
      return {label, source: error.position.file ?? current, error: {code: error.code, message: error.oneLine()}}
    }
    return {label, source: current, error: {code: 'host.read', message: `${current}: ${String(error)}`}}
  }
}

/**
 * A fleet run holds every host's facts at once: 10,000 full dumps are 13 million strings, and
 * the garbage collector and the engine's per-remedy copies of `sysctls` then cost more than the
 * rules. Keep what a live read (sources/proc.ts) reads, RELEVANT_KEYS, so a host checked from
 * its dump in a fleet sees exactly the facts it would see checked live. Every line of the dump
 * has still been parsed and validated.
 */
function trimToRelevant(facts: Facts): Facts {
  const sysctls: Record<string, string> = {}
  for (const key of RELEVANT_KEYS) {
    const v = facts.sysctls[key]
    if (v !== undefined) sysctls[key] = v
  }
  return {...facts, sysctls}
}

// Synchronous reads: parsing is synchronous anyway, and one readFileSync costs a fraction of
// fs/promises' open/stat/read/close round trips through the thread pool.
function readRequired(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new TwError('host.file', code === 'ENOENT' ? 'missing' : `cannot read: ${code}`, {
      position: {file},
      hint: 'each host folder needs sysctl.txt (`sysctl -a`) and topology.yaml',
    })
  }
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new TwError('host.file', `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {position: {file}})
  }
}

// Worker entry (see readInWorker): read this slice of the fleet and hand the results back.
if (!isMainThread && (workerData as WorkerJob | null)?.kind === 'twadvisor-read-hosts') {
  const job = workerData as WorkerJob
  parentPort?.postMessage(job.names.map((name) => readHost(join(job.dir, name), name)))
}
