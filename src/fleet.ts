import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {isMainThread, parentPort, Worker, workerData} from 'node:worker_threads'

import {checkHost, checkWaiveFlags, checkWaiveFlows, locationOf, type HostLocation} from './check.js'
import {TwError} from './errors.js'
import {loadRules, type LoadedRule} from './rules/load.js'
import {buildReport} from './rules/report.js'
import type {HostReport, Report} from './rules/types.js'
import {applyJoin, joinFleet, type FleetJoin} from './discover/fleet.js'
import {HOST_FILES, hostFolders, readHost, type HostReadError} from './sources/hosts.js'
import {parseTopology} from './topology/load.js'
import type {Topology} from './topology/types.js'
import {PACKAGE_ROOT} from './util/paths.js'

/**
 * `check --hosts DIR`: every host folder read, parsed and evaluated in one process. The work per
 * host (about 0.6 ms: the ~1,300-line dump, the topology YAML, the rules with their remedy
 * re-runs) is the whole cost, so a large fleet is split into contiguous slices, one worker thread
 * per core, each doing the whole pipeline for its hosts. Only the reports cross back, in batches,
 * so copying them overlaps the work still going on.
 */
export interface FleetResult {
  report: Report
  rules: LoadedRule[]
  /** For SARIF: each evaluated host's topology file and flow lines. */
  locations: HostLocation[]
  /** Worker threads that did their slice (0 when run inline; fewer if one could not start). */
  workers: number
}

export interface FleetOptions {
  waive?: string[]
  /** Worker threads; 0 or 1 runs inline. Default: one per core (at most 4) for large fleets. */
  workers?: number
  /** Called as hosts finish, for a progress line. */
  onProgress?: (done: number, total: number) => void
}

/** Below this many hosts, starting workers (each loads the parsers and the rules) costs more than it saves. */
const WORKER_THRESHOLD_HOSTS = 400
const MAX_WORKERS = 4
/** Hosts per message from a worker: small enough to overlap, large enough to amortise. */
const BATCH_HOSTS = 200

/** What one host folder comes to. Read errors stay apart: they are listed after the evaluated hosts. */
type HostOutcome = {kind: 'read-error'; error: HostReadError} | {kind: 'report'; report: HostReport; location: HostLocation}

interface WorkerJob {
  kind: 'twadvisor-fleet'
  dir: string
  names: string[]
  waive: string[]
  /** What joining the hosts' flows added (discover/fleet.ts), per host. */
  join: FleetJoin
}

type WorkerMessage = {outcomes: HostOutcome[]} | {done: true}

export async function checkFleet(dir: string, opts: FleetOptions = {}): Promise<FleetResult> {
  const rules = loadRules()
  const waive = opts.waive ?? []
  // Bad --waive is bad input for the whole run: say so before any host is read.
  checkWaiveFlags(waive, rules)
  const names = hostFolders(dir)
  const join = fleetJoin(dir, names)
  const workers = opts.workers ?? (names.length < WORKER_THRESHOLD_HOSTS ? 0 : Math.min(availableParallelism(), MAX_WORKERS))
  let done = 0
  const progress = (n: number) => {
    done += n
    opts.onProgress?.(done, names.length)
  }

  const inline = (slice: string[]) =>
    slice.map((name) => {
      const o = hostOutcome(dir, name, rules, waive, join)
      progress(1)
      return o
    })
  let outcomes: HostOutcome[]
  let threaded = 0
  if (workers <= 1) {
    outcomes = inline(names)
  } else {
    // Contiguous slices keep the output in name order once concatenated.
    const size = Math.ceil(names.length / workers)
    const slices = Array.from({length: workers}, (_, i) => names.slice(i * size, (i + 1) * size)).filter((s) => s.length > 0)
    // A worker that cannot start (no dist/ beside a repackaged bundle, a thread limit) costs
    // speed, not the run: its slice is done here instead.
    const parts = await Promise.all(
      slices.map((slice) => {
        let reported = 0
        const count = (n: number) => {
          reported += n
          progress(n)
        }
        return runWorker({kind: 'twadvisor-fleet', dir, names: slice, waive, join}, count).then(
          (o) => {
            threaded++
            return o
          },
          () => {
            // What the worker reported before it failed is done again here.
            progress(-reported)
            return inline(slice)
          },
        )
      }),
    )
    outcomes = parts.flat()
  }

  const hosts: HostReport[] = []
  const locations: HostLocation[] = []
  const unread: HostReport[] = []
  for (const o of outcomes) {
    if (o.kind === 'report') {
      hosts.push(o.report)
      locations.push(o.location)
    } else {
      unread.push({host: o.error.label, kernel: null, source: o.error.source, findings: [], error: o.error.error})
    }
  }
  // --waive ID:flow must name a flow some host has; with unread hosts nobody can tell, so only then it is let through.
  if (unread.length === 0) checkWaiveFlows(waive, locations.flatMap((l) => Object.keys(l.flowLines)))
  return {report: buildReport([...hosts, ...unread]), rules, locations, workers: threaded}
}

function hostOutcome(dir: string, name: string, rules: LoadedRule[], waive: string[], fleet: FleetJoin): HostOutcome {
  const read = readHost(join(dir, name), name)
  if ('error' in read) return {kind: 'read-error', error: read}
  const joined = applyJoin(read.topology, fleet[name])
  const input = {...read, topology: joined.topology}
  const {model: _model, ...report} = checkHost(input, rules, {waive, isolateErrors: true})
  if (joined.notes.length > 0) report.notes = joined.notes
  // The model's internals are not part of check's output (`twadvisor model` prints them), and
  // leaving them out halves what crosses from a worker.
  return {kind: 'report', report, location: locationOf(input, report.host)}
}

/**
 * The fleet's client flows against its server flows (discover/fleet.ts). Only topologies that
 * mention a client flow, then only servers whose text names one of those peers, are parsed, so
 * a fleet with no such pairs pays one read per host. A topology that does not parse is left to
 * the host's own check, which reports it.
 */
function fleetJoin(dir: string, names: string[]): FleetJoin {
  const texts = names.map((name): [string, string | null] => {
    try {
      return [name, readFileSync(join(dir, name, HOST_FILES.topology), 'utf8')]
    } catch {
      return [name, null]
    }
  })
  const parsed = new Map<string, Topology>()
  const parse = (name: string, text: string) => {
    if (!parsed.has(name)) {
      try {
        parsed.set(name, parseTopology(text, join(dir, name, HOST_FILES.topology)))
      } catch {
        // reported by the host's own check
      }
    }
    return parsed.get(name)
  }
  const peers = new Set<string>()
  for (const [name, text] of texts) {
    if (text === null || !/role:\s*["']?client/.test(text)) continue
    for (const f of parse(name, text)?.flows ?? []) if (f.role === 'client') peers.add(f.peer)
  }
  if (peers.size === 0) return {}
  for (const [name, text] of texts) {
    if (text === null || !/role:\s*["']?server/.test(text)) continue
    if ([...peers].some((p) => text.includes(p.split(':')[0]!))) parse(name, text)
  }
  return joinFleet([...parsed].map(([label, topology]) => ({label, topology})))
}

function runWorker(job: WorkerJob, progress: (n: number) => void): Promise<HostOutcome[]> {
  // The compiled module (tsc's dist/, which ships beside the bundle) is the worker's entry: it
  // runs the block at the bottom of this file.
  const entry = join(PACKAGE_ROOT, 'dist', 'fleet.js')
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, {workerData: job})
    const outcomes: HostOutcome[] = []
    let finished = false
    worker.on('message', (m: WorkerMessage) => {
      if ('done' in m) finished = true
      else {
        outcomes.push(...m.outcomes)
        progress(m.outcomes.length)
      }
    })
    worker.once('error', (error) => reject(new TwError('hosts.worker', `checking host folders failed: ${error.message}`, {position: {file: job.dir}})))
    worker.once('exit', (code) => {
      if (finished && outcomes.length === job.names.length) resolve(outcomes)
      else reject(new TwError('hosts.worker', `checking host folders failed (worker exit ${code})`, {position: {file: job.dir}}))
    })
  })
}

// Worker entry (see runWorker): check this slice of the fleet, handing the outcomes back in batches.
if (!isMainThread && (workerData as WorkerJob | null)?.kind === 'twadvisor-fleet') {
  const job = workerData as WorkerJob
  const rules = loadRules()
  let batch: HostOutcome[] = []
  for (const name of job.names) {
    batch.push(hostOutcome(job.dir, name, rules, job.waive, job.join))
    if (batch.length >= BATCH_HOSTS) {
      parentPort?.postMessage({outcomes: batch} satisfies WorkerMessage)
      batch = []
    }
  }
  if (batch.length > 0) parentPort?.postMessage({outcomes: batch} satisfies WorkerMessage)
  parentPort?.postMessage({done: true} satisfies WorkerMessage)
}
