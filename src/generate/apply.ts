import {TwError} from '../errors.js'
import {parseSysctlDump} from '../sources/dump.js'
import {validateNetnsName} from '../sources/netns.js'

/**
 * `--apply`: load the written file into the running kernel with `sysctl -p FILE` (inside a
 * network namespace with --netns), then read every key back. The only place generate touches
 * the kernel, and only when asked.
 */
export interface KeyResult {
  key: string
  wanted: string
  /** The value read back after loading; null when the kernel has no such key. */
  now: string | null
  ok: boolean
  /** What sysctl said about this key, when it failed. */
  error?: string
}

export interface ApplyResult {
  file: string
  netns?: string
  keys: KeyResult[]
  ok: boolean
}

/** --apply refuses early, before anything is written, when not root. */
export function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new TwError('apply.root', '--apply loads sysctls into the kernel and needs root', {hint: 'run it with sudo, or drop --apply and load the file with `sysctl -p FILE`'})
  }
}

export async function applySysctlFile(file: string, entries: {key: string; value: string}[], opts: {netns?: string} = {}): Promise<ApplyResult> {
  requireRoot()
  if (opts.netns !== undefined) validateNetnsName(opts.netns)
  const {execa} = await import('execa')
  const run = (args: string[]) =>
    opts.netns === undefined ? execa('sysctl', args, {reject: false}) : execa('ip', ['netns', 'exec', opts.netns, 'sysctl', ...args], {reject: false})

  const loaded = await run(['-p', file])
  if (loaded.exitCode === undefined) {
    // The process never ran (no sysctl or ip binary): nothing was loaded.
    throw new TwError('apply.sysctl', `cannot run ${opts.netns === undefined ? 'sysctl' : 'ip netns exec'}: ${loaded.shortMessage ?? loaded.message}`, {
      hint: 'install procps (and iproute2 for --netns), or load the file with systemd-sysctl',
    })
  }
  const stderr = String(loaded.stderr ?? '').split('\n').filter(Boolean)
  // -e: a key this kernel lacks is skipped rather than aborting the read of the others.
  const readBack = await run(['-e', ...entries.map((e) => e.key)])
  // When no key could be read back (a kernel, or a namespace, that has none of them), sysctl -e
  // prints nothing: that is every key unset, not an empty dump to refuse.
  const out = String(readBack.stdout ?? '')
  const now = out.trim() === '' ? {} : parseSysctlDump(out, 'sysctl')
  const keys = entries.map(({key, value}): KeyResult => {
    const path = key.replace(/\./g, '/')
    const error = stderr.find((l) => l.includes(`"${key}"`) || l.includes(`/${path}:`) || l.includes(` ${key}:`))
    const current = now[key] ?? null
    const ok = current === value
    return {key, wanted: value, now: current, ok, ...(ok ? {} : {error: error?.replace(/^sysctl:\s*/, '') ?? 'value did not stick'})}
  })
  return {file, ...(opts.netns === undefined ? {} : {netns: opts.netns}), keys, ok: keys.every((k) => k.ok)}
}
