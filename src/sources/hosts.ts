import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {HostInput} from '../check.js'
import {isTwError, TwError} from '../errors.js'
import {RELEVANT_COUNTERS, RELEVANT_KEYS} from '../facts/keys.js'
import {parseTopology} from '../topology/load.js'
import {parseProcNet, parseSockstatTimeWait} from './counters.js'
import {factsFromDump} from './dump.js'
import {shown} from '../util/text.js'
import {MAX_DUMP_BYTES, MAX_TOPOLOGY_BYTES, readRegularSync} from '../util/input-file.js'

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

/** Every host folder, read in name order (check --hosts runs src/fleet.ts, which also evaluates). */
export async function readHostsDir(dir: string): Promise<(HostInput | HostReadError)[]> {
  return hostFolders(dir).map((name) => readHost(join(dir, name), name))
}

/** Host folders in name order; hidden entries (.git, editor files) and plain files are not hosts. */
export function hostFolders(dir: string): string[] {
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

/** One host folder: every failure is returned as this host's error, never thrown. */
export function readHost(folder: string, name: string): HostInput | HostReadError {
  // The folder name is shown in every report: escaped like any echoed input.
  const label = shown(name)
  const sysctlFile = join(folder, HOST_FILES.sysctl)
  const topologyFile = join(folder, HOST_FILES.topology)
  // `current` names the file being handled, so an unexpected error still says where it happened.
  let current: string = sysctlFile
  try {
    // The dump's bytes: factsFromDump scans them without decoding the ~50 KB it does not keep.
    const facts = factsFromDump(readRequired(sysctlFile, MAX_DUMP_BYTES), sysctlFile, {keep: RELEVANT_SET})
    current = topologyFile
    const topology = parseTopology(readRequired(topologyFile, MAX_TOPOLOGY_BYTES).toString('utf8'), topologyFile)
    for (const file of [HOST_FILES.netstat, HOST_FILES.snmp]) {
      current = join(folder, file)
      const text = readOptional(current)
      if (text !== undefined) Object.assign(facts.counters, parseProcNet(text, RELEVANT_COUNTER_SET))
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
 * Keep what a live read (sources/proc.ts) reads, RELEVANT_KEYS, so a host checked from its dump
 * in a fleet sees exactly the facts it would see checked live; the dump's other ~1,300 values are
 * validated but never built (factsFromDump's `keep`). Of the counters, the ones twadvisor reads.
 */
const RELEVANT_SET: ReadonlySet<string> = new Set(RELEVANT_KEYS)
const RELEVANT_COUNTER_SET: ReadonlySet<string> = new Set(RELEVANT_COUNTERS)

// Synchronous reads: parsing is synchronous anyway, and one readFileSync costs a fraction of
// fs/promises' open/stat/read/close round trips through the thread pool.
function readRequired(file: string, maxBytes: number): Buffer {
  try {
    return readRegularSync(file, 'host.file', file.endsWith(HOST_FILES.topology) ? 'topology' : 'sysctl dump', maxBytes)
  } catch (error) {
    if (isTwError(error) && error.message === 'missing') {
      throw new TwError('host.file', 'missing', {position: {file}, hint: 'each host folder needs sysctl.txt (`sysctl -a`) and topology.yaml'})
    }
    throw error
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
