import {constants} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'

import {Document, isMap, isScalar, isSeq, visit} from 'yaml'

import {isTwError, TwError} from '../errors.js'
import {unifiedDiff} from '../generate/diff.js'
import {GENERATED_MARK, hasTwadvisorHeader, packageVersion} from '../generate/header.js'
import {renderPlan} from '../generate/run.js'
import {readExisting, writeFileAtomic} from '../generate/write.js'
import type {HostReport} from '../rules/types.js'
import {parseTopology} from '../topology/load.js'
import type {Flow, Topology} from '../topology/types.js'
import type {WizardIO, WizardOptions} from './flow.js'
import {ask, type Check, type Parsed, type QuestionBase} from './prompts.js'

/**
 * The end of the wizard: the topology file and the sysctl.d file. Both are offered (path,
 * diff against what is there, confirmation) before either is written, and both are written by
 * generate's one atomic writer. The topology text is proven to load in `check` before it is
 * offered: it is parsed back with the same loader and must give the same flows.
 */
export interface Pending {
  kind: 'topology' | 'sysctl.d'
  path: string
  text: string
  /** Keys in a sysctl.d file, for the message. */
  keys?: number
}

export interface WriteOutcome {
  kind: Pending['kind']
  path: string
  changed: boolean
  message: string
}

/** The fields of a flow in the schema's order, without absent optional ones. */
function flowForFile(f: Flow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: f.name,
    role: f.role,
    peer: f.peer,
    qps: f.qps,
    closes_first: f.closes_first,
    keepalive: f.keepalive,
    client_addresses: f.client_addresses,
    senders: f.senders,
    server_endpoints: f.server_endpoints,
  }
  if (f.client_port_range) out.client_port_range = [...f.client_port_range]
  if (f.nat) {
    const nat: Record<string, unknown> = {port_range: [...f.nat.port_range], conntrack_time_wait: f.nat.conntrack_time_wait}
    if (f.nat.port_mode) nat.port_mode = f.nat.port_mode
    if (f.nat.kernel) nat.kernel = f.nat.kernel
    out.nat = nat
  }
  if (f.client_kernel) out.client_kernel = f.client_kernel
  if (f.client_timestamps !== undefined) out.client_timestamps = f.client_timestamps
  if (f.harm_budget !== undefined) out.harm_budget = f.harm_budget
  return out
}

/** The topology as YAML, with the twadvisor header (so a later wizard run may replace it). */
export function topologyYaml(topology: Topology, version = packageVersion()): string {
  const body: Record<string, unknown> = {}
  if (topology.host !== undefined) body.host = topology.host
  if (topology.kernel !== undefined) body.kernel = topology.kernel
  if (topology.waivers.length > 0) body.waivers = topology.waivers
  body.flows = topology.flows.map(flowForFile)
  const doc = new Document(body)
  // Port ranges read best as [low, high] on one line.
  visit(doc, {
    Seq(_, node) {
      if (node.items.length > 0 && node.items.every((i) => isScalar(i) && typeof i.value === 'number')) node.flow = true
    },
  })
  doc.commentBefore = [
    ` ${GENERATED_MARK} ${version} (wizard). Edit freely; check it with: twadvisor check -t FILE`,
    ' Field reference: schema/topology.schema.json in the twadvisor package.',
  ].join('\n')
  // Blank line between flows, as hand-written files have.
  const flows = doc.get('flows', true)
  if (isSeq(flows)) for (const item of flows.items.slice(1)) if (isMap(item)) item.spaceBefore = true
  return doc.toString({lineWidth: 0, flowCollectionPadding: false})
}

function comparable(t: Pick<Topology, 'host' | 'flows'>): string {
  return JSON.stringify({host: t.host, flows: t.flows.map(flowForFile)})
}

/**
 * Parse the text back with the loader `check -t` uses; it must give the same host and flows.
 * A mismatch is a bug in the wizard, reported before anything is written.
 */
export function roundTrip(text: string, path: string, topology: Topology): Topology {
  let back: Topology
  try {
    back = parseTopology(text, path)
  } catch (error) {
    throw new TwError('wizard.roundtrip', `the topology the wizard built does not load: ${isTwError(error) ? error.oneLine() : String(error)}`, {
      hint: 'this is a twadvisor bug; please report it with your answers',
      cause: error,
    })
  }
  if (comparable(back) !== comparable(topology)) {
    throw new TwError('wizard.roundtrip', 'the topology file would not load back as answered', {hint: 'this is a twadvisor bug; please report it with your answers'})
  }
  return back
}

/** Can the wizard write PATH? true, or the reason (the prompt re-asks with it). */
export async function checkTarget(raw: string): Promise<Check> {
  if (raw.trim() === '') return 'type a file path'
  const path = resolve(raw.trim())
  const dir = dirname(path)
  try {
    if (!(await stat(dir)).isDirectory()) return `${dir} is not a directory`
  } catch {
    return `directory ${dir} does not exist`
  }
  try {
    await access(dir, constants.W_OK)
  } catch {
    return `cannot write in ${dir} (permission denied${dir.startsWith('/etc') ? '; run as root for /etc' : ''})`
  }
  let existing: string | null
  try {
    existing = await readExisting(path)
  } catch (error) {
    return isTwError(error) ? `${path} ${error.message}` : String(error)
  }
  if (existing !== null && !hasTwadvisorHeader(existing)) {
    return `${path} exists and was not written by twadvisor; choose another file (\`twadvisor generate --force\` replaces such a file and keeps a backup)`
  }
  return true
}

/** A path the wizard may write, absolute; `taken` is the other file of this run. */
async function parsePath(raw: string, taken?: string): Promise<Parsed<string>> {
  const c = await checkTarget(raw)
  if (c !== true) return {ok: false, reason: c}
  const path = resolve(raw.trim())
  return path === taken ? {ok: false, reason: 'that is where the topology file goes; choose another file'} : {ok: true, value: path}
}

/**
 * "Write X?" then "where?": the path a user accepted (absolute), or undefined. When replaying,
 * the offer defaults to "no" unless the answers or the --output-* flag name a file, so a
 * script never writes to a default path it did not ask for.
 */
async function askWhere(
  io: WizardIO,
  replay: boolean | undefined,
  q: {offer: QuestionBase; file: QuestionBase; flag: string | undefined; fallback: string; taken?: string},
): Promise<string | undefined> {
  const p = io.prompts
  const wanted = await p.confirm({...q.offer, default: replay ? q.flag !== undefined || (p.answered?.(q.file.id) ?? false) : true})
  if (!wanted) return undefined
  return ask(p, {...q.file, default: q.flag ?? q.fallback, parse: (raw) => parsePath(raw, q.taken)})
}

/** Show what would change in PATH; '' when it already holds exactly TEXT. */
async function showDiff(io: WizardIO, path: string, text: string): Promise<string> {
  const existing = await readExisting(path)
  const diff = unifiedDiff(existing ?? '', text, {oldLabel: existing === null ? '/dev/null' : path, newLabel: path})
  if (diff !== '') for (const line of diff.replace(/\n$/, '').split('\n')) io.print(line)
  return diff
}

/**
 * The topology offer. `path` is where the flows are (or will be) on disk, for the sysctl.d
 * header; `pending` is set when the file has to be written.
 */
export async function offerTopology(io: WizardIO, opts: WizardOptions, topology: Topology): Promise<{path: string; pending?: Pending} | undefined> {
  const p = io.prompts
  const path = await askWhere(io, opts.replay, {
    offer: {id: 'save_topology', message: 'Save these flows as a topology file?', hint: 'The file `twadvisor check -t FILE` and `generate` read; keep it next to the host\'s config.'},
    file: {id: 'topology_file', message: 'Topology file', hint: 'A new file, or one an earlier wizard run wrote (you are shown the diff).'},
    flag: opts.outputTopology,
    fallback: 'topology.yaml',
  })
  if (path === undefined) return undefined
  const text = topologyYaml(topology)
  roundTrip(text, path, topology)
  const existing = await readExisting(path)
  if (existing === text) {
    io.print(`${path} already holds these flows; nothing to write`)
    return {path}
  }
  if (existing !== null) {
    await showDiff(io, path, text)
    const replace = await p.confirm({id: 'topology_replace', message: `Replace ${path} with this?`, default: true})
    if (!replace) return undefined
  }
  return {path, pending: {kind: 'topology', path, text}}
}

export async function offerSysctl(io: WizardIO, opts: WizardOptions, report: HostReport, topologyPath: string | undefined): Promise<Pending | undefined> {
  const p = io.prompts
  let rendered: ReturnType<typeof renderPlan>
  try {
    rendered = renderPlan(report, opts.facts, topologyPath ?? '(wizard answers, not saved)', 'sysctl.d')
  } catch (error) {
    // Two findings asking for different values of one key: say so, write nothing.
    if (!isTwError(error)) throw error
    io.print(`No sysctl.d file: ${error.oneLine()}`)
    return undefined
  }
  const {plan, text, warnings} = rendered
  for (const w of warnings) io.print(`warning: ${w}`)
  const keys = plan.entries.length
  if (keys === 0) {
    io.print('No sysctl changes to write: no finding on this host has a sysctl remedy.')
    return undefined
  }
  const path = await askWhere(io, opts.replay, {
    offer: {
      id: 'write_sysctl',
      message: `Write the sysctl.d file with ${keys} setting${keys === 1 ? '' : 's'} (${plan.entries.map((e) => e.key).join(', ')})?`,
      hint: 'Each key under a comment with the rule and the reason; the diff is shown before anything is written.',
    },
    file: {id: 'sysctl_file', message: 'sysctl.d file', hint: '/etc/sysctl.d/60-twadvisor.conf is loaded at boot; elsewhere, load it with `sysctl -p FILE`.'},
    flag: opts.outputSysctl,
    fallback: opts.isRoot ? '/etc/sysctl.d/60-twadvisor.conf' : '60-twadvisor.conf',
    taken: topologyPath,
  })
  if (path === undefined) return undefined
  const diff = await showDiff(io, path, text)
  if (diff === '') {
    io.print(`${path} is current; nothing to write`)
    return undefined
  }
  const confirmed = await p.confirm({id: 'sysctl_confirm', message: `Write this to ${path}?`, default: true})
  return confirmed ? {kind: 'sysctl.d', path, text, keys} : undefined
}

/**
 * Write what was confirmed, in order, each atomically. Ctrl-C here does not cut a file in half:
 * the one being written is finished, the rest are skipped, and the caller exits 130.
 */
export async function writePending(pending: Pending[]): Promise<{written: WriteOutcome[]; interrupted: boolean}> {
  let interrupted = false
  const onSigint = () => {
    interrupted = true
  }
  process.on('SIGINT', onSigint)
  const written: WriteOutcome[] = []
  try {
    for (const w of pending) {
      if (interrupted) break
      const r = await writeFileAtomic(w.path, w.text)
      const what = w.kind === 'topology' ? 'topology' : `sysctl.d, ${w.keys} key${w.keys === 1 ? '' : 's'}`
      const next =
        w.kind === 'topology'
          ? `check it any time: twadvisor check -t ${w.path}`
          : `load it now: sysctl -p ${w.path}${w.path.startsWith('/etc/sysctl.d/') ? ' (systemd-sysctl loads it at boot)' : ''}`
      written.push({
        kind: w.kind,
        path: w.path,
        changed: r.changed,
        message: r.changed ? `${r.created ? 'wrote' : 'updated'} ${w.path} (${what}); ${next}` : `${w.path} is current (${what})`,
      })
    }
  } finally {
    process.off('SIGINT', onSigint)
  }
  return {written, interrupted}
}
