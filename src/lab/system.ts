import {accessSync, constants, existsSync} from 'node:fs'
import {delimiter, join} from 'node:path'

import {TwError} from '../errors.js'
import {parseProcNet} from '../sources/counters.js'
import {natTool} from './layer.js'

/**
 * Everything the lab does to the system: namespaces, links, sysctls, nftables, processes.
 * execa with argument arrays only; every name is built here from validated parts.
 */

/** Every lab namespace starts with this, so a later run can find what a killed one left. */
export const NS_PREFIX = 'twlab-'
const NS_NAME = /^twlab-\d+-[a-z0-9]+-[a-z0-9]+$/

/** Commands we run and the Debian package each comes from. */
const TOOLS: [cmd: string, pkg: string][] = [
  ['ip', 'iproute2'],
  natTool(),
  ['sysctl', 'procps'],
]

/** sbin directories are searched too: root's PATH lacks them under some sudo configurations. */
const SBIN = ['/usr/sbin', '/sbin']

function onPath(cmd: string, path: string, extra: string[]): boolean {
  const dirs = path.split(delimiter).concat(extra)
  return dirs.some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Root, Linux, and the tools; each miss is one clear TwError saying how to fix it. */
export function preflight(opts: {path?: string; extraDirs?: string[]} = {}): void {
  const path = opts.path ?? process.env.PATH ?? ''
  const extra = opts.extraDirs ?? SBIN
  if (process.platform !== 'linux') {
    throw new TwError('lab.platform', 'the lab needs Linux (network namespaces)')
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new TwError('lab.root', 'the lab needs root: it creates network namespaces, links and nftables rules', {
      hint: 'run it as root, e.g. `sudo twadvisor lab ...`',
    })
  }
  const missing = TOOLS.filter(([cmd]) => !onPath(cmd, path, extra))
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p))]
    throw new TwError('lab.tools', `the lab needs ${missing.map(([c]) => `\`${c}\``).join(', ')}, not found on PATH`, {
      hint: `install them: apt-get install -y ${pkgs.join(' ')}`,
    })
  }
  if (!existsSync('/proc/self/ns/net')) {
    throw new TwError('lab.netns', 'this kernel has no network namespaces (CONFIG_NET_NS)')
  }
}

type Execa = typeof import('execa').execa
let execaFn: Execa | undefined
export async function exec(): Promise<Execa> {
  execaFn ??= (await import('execa')).execa
  return execaFn
}

/** Run a command; a failure becomes a TwError with the command and its first stderr line. */
export async function run(file: string, args: string[], opts: {input?: string; timeoutMs?: number} = {}): Promise<string> {
  const execa = await exec()
  const r = await execa(file, args, {reject: false, input: opts.input, timeout: opts.timeoutMs ?? 15_000})
  if (r.exitCode !== 0 || r.failed) {
    const why = (String(r.stderr ?? '') || r.shortMessage || '').split('\n')[0]
    throw new TwError('lab.exec', `\`${[file, ...args].join(' ')}\` failed: ${why}`)
  }
  return String(r.stdout ?? '')
}

export function inNs(ns: string, args: string[]): [string, string[]] {
  if (!NS_NAME.test(ns)) throw new TwError('lab.name', `refusing to use namespace name "${ns}"`)
  return ['ip', ['netns', 'exec', ns, ...args]]
}

export async function runIn(ns: string, args: string[], opts: {input?: string} = {}): Promise<string> {
  const [f, a] = inNs(ns, args)
  return run(f, a, opts)
}

export async function addNs(ns: string): Promise<void> {
  if (!NS_NAME.test(ns)) throw new TwError('lab.name', `refusing to create namespace "${ns}"`)
  await run('ip', ['netns', 'add', ns])
  await runIn(ns, ['ip', 'link', 'set', 'lo', 'up'])
}

/** A veth pair created directly inside the two namespaces (nothing appears in the host's). */
export async function addVeth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
  await run('ip', ['link', 'add', 'name', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB])
  await runIn(nsA, ['ip', 'link', 'set', ifA, 'up'])
  await runIn(nsB, ['ip', 'link', 'set', ifB, 'up'])
}

/** Sysctls in one namespace, one `sysctl -w` call; keys the namespace lacks are returned, not set. */
export async function setSysctls(ns: string, values: Record<string, string>): Promise<string[]> {
  const present: string[] = []
  const absent: string[] = []
  for (const [k, v] of Object.entries(values)) {
    if (!/^[a-z0-9_.]+$/i.test(k) || /[\n=]/.test(v)) throw new TwError('lab.sysctl', `bad sysctl ${k}=${v}`)
    // /proc/sys is per namespace for net.*; the path tells whether this kernel has the key.
    if (existsSync(`/proc/sys/${k.replace(/\./g, '/')}`) || k.startsWith('net.netfilter.')) present.push(`${k}=${v}`)
    else absent.push(k)
  }
  if (present.length > 0) await runIn(ns, ['sysctl', '-q', '-w', ...present])
  return absent
}

/** /proc/net/snmp + /proc/net/netstat as seen inside a namespace. */
export async function readCounters(ns: string): Promise<Record<string, number>> {
  const snmp = await runIn(ns, ['cat', '/proc/net/snmp'])
  const netstat = await runIn(ns, ['cat', '/proc/net/netstat'])
  return {...parseProcNet(snmp), ...parseProcNet(netstat)}
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Lab namespaces on this host: all of them, and those whose run (pid in the name) is gone. */
export async function listLabNs(): Promise<{all: string[]; stale: string[]}> {
  const out = await run('ip', ['netns', 'list'])
  const all = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => NS_NAME.test(n))
  const stale = all.filter((n) => {
    const pid = Number(n.slice(NS_PREFIX.length).split('-')[0])
    return pid === process.pid ? false : !pidAlive(pid)
  })
  return {all, stale}
}

/** Kill what runs in the namespace, then delete it. Never throws: cleanup must go on. */
export async function removeNs(ns: string): Promise<void> {
  if (!NS_NAME.test(ns)) return
  const execa = await exec()
  const pids = await execa('ip', ['netns', 'pids', ns], {reject: false, timeout: 5000})
  for (const p of String(pids.stdout ?? '').split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await execa('ip', ['netns', 'del', ns], {reject: false, timeout: 5000})
}

/** The same, synchronously, for the signal path where nothing async may run. */
export function removeNsSync(names: string[], execaSync: typeof import('execa').execaSync): void {
  for (const ns of names) {
    if (!NS_NAME.test(ns)) continue
    const pids = execaSync('ip', ['netns', 'pids', ns], {reject: false, timeout: 5000})
    for (const p of String(pids.stdout ?? '').split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL')
      } catch {
        // already gone
      }
    }
    execaSync('ip', ['netns', 'del', ns], {reject: false, timeout: 5000})
  }
}

/** Remove namespaces a killed run left behind (their pid is gone). Returns their names. */
export async function removeStale(): Promise<string[]> {
  const {stale} = await listLabNs()
  for (const ns of stale) await removeNs(ns)
  return stale
}

/** A driver process as the lab uses it: streams, exit code, kill, and awaitable. */
export interface DriverProc extends PromiseLike<unknown> {
  stdout?: NodeJS.ReadableStream | null
  stderr?: NodeJS.ReadableStream | null
  stdin?: NodeJS.WritableStream | null
  exitCode: number | null | undefined
  kill: (sig?: NodeJS.Signals) => boolean
}

/**
 * Everything runLab does to a kernel, as one injectable layer: "run this in namespace X".
 * The default acts on this host through `ip netns`; another kernel (a user-mode Linux guest)
 * supplies its own and reuses the plan, driver, scenarios and statistics unchanged.
 */
export interface LabHost {
  /** The kernel release the namespaces run on (default: this host's). */
  kernel?: () => string
  preflight: () => void
  removeStale: () => Promise<string[]>
  addNs: (ns: string) => Promise<void>
  addVeth: (nsA: string, ifA: string, nsB: string, ifB: string) => Promise<void>
  runIn: (ns: string, args: string[], opts?: {input?: string}) => Promise<string>
  setSysctls: (ns: string, values: Record<string, string>) => Promise<string[]>
  readCounters: (ns: string) => Promise<Record<string, number>>
  removeNs: (ns: string) => Promise<void>
  /** Synchronous removal for the signal path. */
  removeNsSync: (names: string[]) => void
  /** Start the traffic driver (`driver.js server|client ...`) inside a namespace. */
  spawnDriver: (ns: string, driverArgs: string[], opts: {stdin: 'pipe' | 'ignore'; timeoutMs: number}) => DriverProc
}

/** This host's kernel, through `ip netns exec` and the Node binary running us. */
export async function localHost(driver: string): Promise<LabHost> {
  const [execa, {execaSync}] = await Promise.all([exec(), import('execa')])
  return {
    preflight: () => preflight(),
    removeStale,
    addNs,
    addVeth,
    runIn,
    setSysctls,
    readCounters,
    removeNs,
    removeNsSync: (names) => removeNsSync(names, execaSync),
    spawnDriver: (ns, driverArgs, o) => {
      const [f, a] = inNs(ns, [process.execPath, driver, ...driverArgs])
      return execa(f, a, {reject: false, buffer: false, stdin: o.stdin, stdout: 'pipe', stderr: 'pipe', timeout: o.timeoutMs}) as unknown as DriverProc
    },
  }
}
