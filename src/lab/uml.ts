import {spawn} from 'node:child_process'
import {accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {TwError} from '../errors.js'
import {PACKAGE_ROOT} from '../util/paths.js'
import type {Mechanism} from './kernel-sides.js'
import {LAYER_ENV} from './layer.js'
import type {LabOptions, LabReport} from './run.js'

/**
 * The user-mode Linux layer: boot a second kernel (Debian's `linux.uml`, 6.1) as an ordinary
 * process and run the lab inside it. The guest's root is the host's root through hostfs,
 * mounted read-only; the package and the node binary are mounted read-only at fixed paths
 * (so a clone under a tmpfs /tmp works), and the guest writes only into a scratch folder
 * created for the run and removed after it. The guest process is bounded by mem= and by a
 * deadline after which its whole process group is killed; it never outlives the run.
 *
 * Inside, src/lab/uml-guest.ts calls the same runLab() with the layer set to "uml-guest"
 * (layer.ts): the same plan, driver, counters and statistics, on the guest's kernel.
 */

export const DEFAULT_UML = '/usr/bin/linux.uml'
/** Debian's module tree for the uml kernel: /usr/lib/uml/modules/<release>. */
export const UML_MODULES = '/usr/lib/uml/modules'
/** veth for the links, conntrack + NAT + MASQUERADE/SNAT targets for the router's iptables rule. */
export const GUEST_MODULES = ['veth', 'nf_conntrack', 'nf_nat', 'iptable_nat', 'xt_MASQUERADE', 'xt_nat'] as const
const PACKAGES = 'user-mode-linux kmod iptables iproute2 procps'

export interface UmlOptions {
  /** The uml kernel binary (default /usr/bin/linux.uml). */
  binary?: string
  /** Guest memory in MiB: the guest runs three node processes at most. */
  memMiB?: number
  /** Kill the guest after this many seconds (default: enough for the longest possible run). */
  deadlineSeconds?: number
}

/** A report from the guest: the lab's report, plus what ran it. */
export type UmlLabReport = LabReport & {
  uml: {
    binary: string
    boot_to_poweroff_seconds: number
    /** The mechanism the prediction rests on, for the guest's kernel on every side. */
    predicted_mechanism: Mechanism
    /** The PAWS counters the guest's kernel has (the name differs by version). */
    paws_counters: string[]
  }
}

/** One lab run for the guest (JSON, the guest's spec file holds a list). */
export interface GuestJob {
  flow: LabOptions['flow']
  facts: LabOptions['facts']
  remedy?: LabOptions['remedy']
  scale?: LabOptions['scale']
  phaseSeconds?: number
  /** Seconds of traffic before measuring (default: the lab's own, sized to the mechanism). */
  warmupSeconds?: number
  /** Windows added when one cannot decide (default the lab's, 3). */
  maxExtensions?: number
  timeoutMs?: number
}

export type GuestResult = {ok: true; report: LabReport; mechanism: Mechanism; paws_counters: string[]} | {ok: false; error: {code: string; message: string; hint?: string}}

const onPath = (cmd: string): boolean =>
  (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => {
      try {
        accessSync(join(d, cmd), constants.X_OK)
        return true
      } catch {
        return false
      }
    })

/** The uml kernel's release from its binary: Debian's build names its module tree after it. */
export function umlRelease(binary: string): string | null {
  if (!existsSync(UML_MODULES)) return null
  // The binary embeds its banner ("Linux version 6.1.176 ..."); the module tree tells the same.
  const trees = readdirSafe(UML_MODULES)
  if (trees.length === 1) return trees[0]!
  try {
    const head = readFileSync(binary).toString('latin1')
    const m = /Linux version (\d+\.\d+\.\d+\S*)/.exec(head)
    if (m && trees.includes(m[1]!)) return m[1]!
  } catch {
    // unreadable binary: reported by the preflight
  }
  return null
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** Everything the guest needs, checked on the host; each miss names the Debian packages. */
export function umlPreflight(binary: string): {release: string} {
  if (process.platform !== 'linux') throw new TwError('lab.platform', 'the lab needs Linux')
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new TwError('lab.root', 'the lab needs root, also with --uml (the guest runs the lab as its root)', {hint: 'run it as root, e.g. `sudo twadvisor lab --uml ...`'})
  }
  try {
    accessSync(binary, constants.X_OK)
  } catch {
    throw new TwError('lab.uml', `no user-mode Linux kernel at ${binary}`, {hint: `install it: apt-get install -y ${PACKAGES}`})
  }
  const release = umlRelease(binary)
  if (!release) {
    throw new TwError('lab.uml', `no module tree for the user-mode Linux kernel under ${UML_MODULES}`, {hint: `install it: apt-get install -y ${PACKAGES}`})
  }
  const missing = (
    [
      ['modprobe', 'kmod'],
      ['iptables-legacy', 'iptables'],
      ['ip', 'iproute2'],
      ['sysctl', 'procps'],
    ] as const
  ).filter(([c]) => !onPath(c))
  if (missing.length > 0) {
    throw new TwError('lab.tools', `the user-mode Linux lab needs ${missing.map(([c]) => `\`${c}\``).join(', ')}, not found on PATH`, {
      hint: `install them: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}`,
    })
  }
  const entry = join(PACKAGE_ROOT, 'dist', 'lab', 'uml-guest.js')
  if (!existsSync(entry)) throw new TwError('lab.driver', `the lab's guest entry is not built (${entry})`, {hint: 'run `npm run build` first'})
  return {release}
}

/** A path safe to put in the guest's shell script and kernel command line. */
function safePath(p: string): string {
  if (!/^\/[\w./+-]*$/.test(p)) throw new TwError('lab.uml', `refusing a path with unusual characters for the guest: ${p}`)
  return p
}

/**
 * The guest's init (PID 1): mounts, module loading, then the lab entry, then power-off. Its
 * output goes to the console (the host reads it); results go to /run/tw/out (the scratch folder).
 */
export function initScript(o: {scratch: string; pkg: string; nodeDir: string; nodeName: string}): string {
  const mods = GUEST_MODULES.join(' ')
  return `#!/bin/sh
# twadvisor lab, user-mode Linux guest init (written for one run, removed after it)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C ${LAYER_ENV}=uml-guest
say() { echo "twuml: $*"; }
mount -t proc proc /proc && mount -t sysfs sys /sys || say "setup-failed mount proc/sys"
# /run and /tmp of the host are not the guest's: private tmpfs over both (ip netns lives in /run).
mount -t tmpfs -o size=64m,mode=755 tmpfs /run || say "setup-failed mount /run"
mkdir -p /run/tw/out /run/tw/pkg /run/tw/node /run/tw/mods/lib/modules /run/netns
mount -t hostfs -o ${o.scratch} none /run/tw/out || say "setup-failed mount scratch"
mount -t hostfs -r -o ${o.pkg} none /run/tw/pkg || say "setup-failed mount package"
mount -t hostfs -r -o ${o.nodeDir} none /run/tw/node || say "setup-failed mount node"
mount -t tmpfs -o size=256m tmpfs /tmp
ln -s ${UML_MODULES}/$(uname -r) /run/tw/mods/lib/modules/$(uname -r)
for m in ${mods}; do modprobe -d /run/tw/mods $m || say "setup-failed modprobe $m"; done
# A small guest sizes its conntrack table by its memory (a few thousand entries at mem=1024M):
# the NAT would drop SYNs on a full table before its pool runs out, a different mechanism from
# the one the flow declares. Size it like the host's (262,144), so the pool is the limit.
sysctl -qw net.netfilter.nf_conntrack_max=262144 || say "setup-failed nf_conntrack_max"
say "nf_conntrack_max $(cat /proc/sys/net/netfilter/nf_conntrack_max)"
say "kernel $(uname -r)"
/run/tw/node/${o.nodeName} /run/tw/pkg/dist/lab/uml-guest.js /run/tw/out/spec.json /run/tw/out 2>&1
say "exit $?"
sync
poweroff -f 2>/dev/null || halt -f -p 2>/dev/null || echo o > /proc/sysrq-trigger
`
}

/** Kill a process group, ignoring "already gone". */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // gone
  }
}

/** Seconds a job may take at most: two phases of the longest length plus timeouts and setup. */
function jobBoundSeconds(j: GuestJob): number {
  // Two phases, each a warm-up (at most 75 s), its window and up to 3 extensions.
  const phase = j.phaseSeconds ?? 60
  const ext = j.maxExtensions ?? 3
  return 2 * ((j.warmupSeconds ?? 75) + phase * (1 + ext) + 3 * ((j.timeoutMs ?? 5000) / 1000) * (2 + ext) + 30) + 30
}

/**
 * Boot the guest once and run each job in it, in order. Returns one result per job (a job's
 * own error does not stop the others). Setup failures of the guest itself throw.
 */
export async function runJobsInUml(
  jobs: GuestJob[],
  uml: UmlOptions = {},
  hooks: {onLine?: (kind: string, text: string) => void} = {},
): Promise<{release: string; results: GuestResult[]; seconds: number}> {
  const binary = uml.binary ?? DEFAULT_UML
  umlPreflight(binary)
  const scratch = mkdtempSync(join(tmpdir(), 'twlab-uml-'))
  const deadline = uml.deadlineSeconds ?? 60 + jobs.reduce((s, j) => s + jobBoundSeconds(j), 0)
  let pid: number | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    if (pid) killGroup(pid)
    rmSync(scratch, {recursive: true, force: true})
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  const onInt = () => onSignal('SIGINT')
  const onTerm = () => onSignal('SIGTERM')
  process.once('SIGINT', onInt)
  process.once('SIGTERM', onTerm)
  const started = Date.now()
  try {
    writeFileSync(join(scratch, 'spec.json'), JSON.stringify(jobs))
    const init = join(scratch, 'init.sh')
    writeFileSync(init, initScript({scratch: safePath(scratch), pkg: safePath(PACKAGE_ROOT), nodeDir: safePath(dirname(process.execPath)), nodeName: safePath(process.execPath).split('/').pop()!}), {mode: 0o755})
    mkdirSync(join(scratch, 'uml'))
    const args = [
      `mem=${uml.memMiB ?? 1024}M`,
      'rootfstype=hostfs',
      'rootflags=/',
      'ro',
      `init=${init}`,
      `umid=twlab-${process.pid}`,
      `uml_dir=${join(scratch, 'uml')}`,
      'con=null',
      'con0=null,fd:1',
      'quiet',
    ]
    // detached: the guest and the host processes it forks form one group we can kill whole.
    // TMPDIR: the guest's memory file goes into the scratch folder too.
    const child = spawn(binary, args, {detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: {PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: scratch}})
    pid = child.pid
    let console_ = ''
    let lines = ''
    const feed = (d: Buffer) => {
      lines += d.toString('utf8')
      const parts = lines.split(/\r?\n/)
      lines = parts.pop() ?? ''
      for (const l of parts) {
        const m = /^twuml: (\S+) ?(.*)$/.exec(l.replace(/\r/g, ''))
        if (m) hooks.onLine?.(m[1]!, m[2]!)
        console_ = (console_ + l + '\n').slice(-20_000)
      }
    }
    child.stdout.on('data', feed)
    child.stderr.on('data', feed)
    const timer = setTimeout(() => pid && killGroup(pid), deadline * 1000)
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    clearTimeout(timer)
    killGroup(pid!)
    const seconds = (Date.now() - started) / 1000
    const release = /twuml: kernel (\S+)/.exec(console_)?.[1]
    const setup = [...console_.matchAll(/twuml: setup-failed (.*)/g)].map((m) => m[1]!.trim())
    if (setup.length > 0) {
      throw new TwError('lab.uml', `the user-mode Linux guest could not set up: ${setup.join('; ')}`, {hint: `check the packages: apt-get install -y ${PACKAGES}`})
    }
    const results: GuestResult[] = []
    for (let i = 0; i < jobs.length; i++) {
      const f = join(scratch, `result-${i}.json`)
      if (!existsSync(f)) break
      results.push(JSON.parse(readFileSync(f, 'utf8')) as GuestResult)
    }
    if (!release || results.length < jobs.length) {
      const why = seconds >= deadline ? `killed after its deadline of ${deadline} s` : `exit ${String(code)}`
      const tail = console_.trim().split('\n').slice(-3).join(' | ') || 'no console output (is this a user-mode Linux kernel?)'
      throw new TwError('lab.uml', `the user-mode Linux guest ended before the lab finished (${why}; ${results.length}/${jobs.length} results): ${tail}`)
    }
    return {release, results, seconds: Math.round(seconds * 10) / 10}
  } finally {
    if (pid) killGroup(pid)
    process.removeListener('SIGINT', onInt)
    process.removeListener('SIGTERM', onTerm)
    rmSync(scratch, {recursive: true, force: true})
  }
}

/** runLab's uml layer: one job in a fresh guest; its report says the guest's kernel. */
export async function runLabInUml(opts: LabOptions, uml: UmlOptions): Promise<UmlLabReport> {
  const job: GuestJob = {flow: opts.flow, facts: opts.facts, remedy: opts.remedy, scale: opts.scale, phaseSeconds: opts.phaseSeconds, warmupSeconds: opts.warmupSeconds, maxExtensions: opts.maxExtensions, timeoutMs: opts.timeoutMs}
  opts.onStep?.(`booting the user-mode Linux kernel ${uml.binary ?? DEFAULT_UML}`)
  const {results, seconds} = await runJobsInUml([job], uml, {
    onLine: (kind, text) => {
      if (kind === 'step') opts.onStep?.(`uml: ${text}`)
      else if (kind === 'progress') {
        const [phase, done, total] = text.split(' ')
        if (phase === 'before' || phase === 'after') opts.onProgress?.({phase, done: Number(done), total: Number(total)})
      }
    },
  })
  const r = results[0]!
  if (!r.ok) throw new TwError(r.error.code, `in the user-mode Linux guest: ${r.error.message}`, r.error.hint ? {hint: r.error.hint} : {})
  return {...r.report, uml: {binary: uml.binary ?? DEFAULT_UML, boot_to_poweroff_seconds: seconds, predicted_mechanism: r.mechanism, paws_counters: r.paws_counters}}
}
