import {readdir, readFile, realpath} from 'node:fs/promises'
import {join} from 'node:path'

import {normalizeKey, normalizeValue} from '../facts/normalize.js'

/**
 * Which file sets a key at boot, the way systemd-sysctl decides (sysctl.d(5)): *.conf files
 * from these directories, a file name in an earlier directory masking the same name in a later
 * one; the survivors applied in file-name order across directories, so for the same key the
 * file whose name sorts last wins; /etc/sysctl.conf read last of all.
 */
export const SYSCTL_D_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d'] as const
export const SYSCTL_CONF = '/etc/sysctl.conf'

export interface Setting {
  /** The file as it sits in the search path (without the injected root). */
  file: string
  line: number
  key: string
  value: string
}

export interface KeyAtBoot {
  key: string
  /** Every assignment in load order. */
  setters: Setting[]
  /** The last assignment, which is what the key holds after boot (null: no file sets it). */
  winner: Setting | null
}

/** sysctl.d keys may be globs (systemd 245+: net.ipv4.conf.*.rp_filter). */
function matches(pattern: string, key: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === key
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$')
  return re.test(key)
}

/** `key = value` lines; `#`/`;` comments; a leading `-` (ignore failure) is not part of the key. */
export function parseSysctlConf(text: string, file: string): Setting[] {
  const out: Setting[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const eq = line.indexOf('=')
    if (eq <= 0) return
    const key = normalizeKey(line.slice(0, eq).replace(/^-/, ''))
    out.push({file, line: i + 1, key, value: normalizeValue(line.slice(eq + 1))})
  })
  return out
}

async function listConf(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.conf'))
  } catch {
    return []
  }
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return null
  }
}

/** The boot-time load order: search-path files (display paths), /etc/sysctl.conf last. */
export async function bootFiles(root = '/'): Promise<string[]> {
  const byName = new Map<string, string>()
  for (const dir of SYSCTL_D_DIRS) {
    for (const name of await listConf(join(root, dir))) if (!byName.has(name)) byName.set(name, `${dir}/${name}`)
  }
  // The default sort compares UTF-16 code units, as systemd-sysctl's strcmp on ASCII names does.
  const names = [...byName.keys()].sort()
  const files = names.map((n) => byName.get(n)!)
  // Distributions link /etc/sysctl.d/99-sysctl.conf to ../sysctl.conf: count that file once, last.
  const conf = await realpath(join(root, SYSCTL_CONF)).catch(() => null)
  const kept: string[] = []
  for (const f of files) {
    const real = await realpath(join(root, f)).catch(() => null)
    if (conf === null || real !== conf) kept.push(f)
  }
  return [...kept, SYSCTL_CONF]
}

export async function bootSettings(keys: string[], opts: {root?: string} = {}): Promise<KeyAtBoot[]> {
  const root = opts.root ?? '/'
  const settings: Setting[] = []
  for (const file of await bootFiles(root)) {
    const text = await readOrNull(join(root, file))
    if (text !== null) settings.push(...parseSysctlConf(text, file))
  }
  return keys.map((key) => {
    const setters = settings.filter((s) => matches(s.key, key))
    return {key, setters, winner: setters[setters.length - 1] ?? null}
  })
}

/** The display path of FILE in the search path, when it is a *.conf systemd-sysctl loads. */
export function searchPathName(file: string, root = '/'): string | null {
  const rootPrefix = root.endsWith('/') ? root : root + '/'
  const rel = root === '/' ? file : file.startsWith(rootPrefix) ? '/' + file.slice(rootPrefix.length) : null
  if (rel === null) return null
  if (rel === SYSCTL_CONF) return rel
  for (const dir of SYSCTL_D_DIRS) {
    if (rel.startsWith(dir + '/') && !rel.slice(dir.length + 1).includes('/') && rel.endsWith('.conf')) return rel
  }
  return null
}
