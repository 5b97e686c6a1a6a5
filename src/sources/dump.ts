import {readFile} from 'node:fs/promises'

import {TwError} from '../errors.js'
import {parseKernel} from '../facts/kernel.js'
import {normalizeKey, normalizeValue} from '../facts/normalize.js'
import type {Facts} from '../facts/types.js'

/**
 * Parse `sysctl -a` text: `k = v` or `k=v`, tabs or spaces inside values, `#`/`;` comments and
 * blank lines. `sysctl -a` also prints "sysctl: permission denied on key ..." lines on stderr;
 * when someone captured them with 2>&1 they are skipped, not errors.
 */
export function parseSysctlDump(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    if (line.startsWith('sysctl:')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) {
      throw new TwError('dump.syntax', `expected "key = value", got "${line.slice(0, 60)}"`, {
        position: {file, line: i + 1, col: 1},
        hint: 'a sysctl dump is the output of `sysctl -a`',
      })
    }
    const key = normalizeKey(line.slice(0, eq))
    if (!/^[A-Za-z0-9_.\-]+$/.test(key)) {
      throw new TwError('dump.key', `"${key}" is not a sysctl key`, {position: {file, line: i + 1, col: 1}})
    }
    out[key] = normalizeValue(line.slice(eq + 1))
  }
  return out
}

/**
 * A dump as facts. With `keep`, only those keys are returned (a fleet run needs 15 of a dump's
 * ~1,300 values), and the result is exactly parseSysctlDump's restricted to `keep`: every line is
 * still validated. Given the file's bytes, a dump in the usual shape is scanned without decoding
 * it (scanPlainDump); anything unusual goes through parseSysctlDump, which has the last word and
 * reports errors with their line.
 */
export function factsFromDump(input: string | Uint8Array, source: string, opts: {keep?: ReadonlySet<string>} = {}): Facts {
  const {keep} = opts
  let sysctls = keep && typeof input !== 'string' ? scanPlainDump(input, keep) : undefined
  if (sysctls === undefined) {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8')
    sysctls = parseSysctlDump(text, source)
    // An empty dump usually means `sysctl -a` failed upstream: findings about defaults would be
    // findings about a host that was never read.
    if (Object.keys(sysctls).length === 0) {
      throw new TwError('dump.empty', 'the sysctl dump has no keys', {position: {file: source}, hint: 'capture it with `sysctl -a > FILE`'})
    }
    if (keep) sysctls = Object.fromEntries(Object.entries(sysctls).filter(([k]) => k === RELEASE_KEY || keep.has(k)))
  }
  // The kernel comes from the dump whatever `keep` holds; the key itself only when asked for.
  const release = sysctls[RELEASE_KEY]
  if (keep && !keep.has(RELEASE_KEY)) delete sysctls[RELEASE_KEY]
  return {source, kernel: release ? parseKernel(release) : null, sysctls, counters: {}}
}

const RELEASE_KEY = 'kernel.osrelease'

// Byte classes for scanPlainDump.
const NL = 10
const CR = 13
const SPACE = 32
const TAB = 9
const EQ = 61
const KEY_BYTE = new Uint8Array(256)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-') KEY_BYTE[c.charCodeAt(0)] = 1
const SYSCTL_NOTICE = new TextEncoder().encode('sysctl:')

interface KeptKey {
  key: string
  bytes: Uint8Array
}
/** The kept keys (as bytes too), by length, with kernel.osrelease always among them. */
const keptByLength = new WeakMap<ReadonlySet<string>, (KeptKey[] | undefined)[]>()

/** bytes[at, at + word.length) is word. By hand: a native Buffer.compare call costs more per line. */
function bytesAt(bytes: Uint8Array, at: number, word: Uint8Array): boolean {
  for (let j = 0; j < word.length; j++) if (bytes[at + j] !== word[j]) return false
  return true
}

/**
 * parseSysctlDump restricted to `keep`, on the file's bytes, for the lines it can judge alone:
 * blank, a `#`/`;` comment, a `sysctl:` notice, or `key = value` where the key is plain
 * ([A-Za-z0-9_.-]) and only spaces or tabs stand around it. Values are skipped unless kept (then
 * decoded and normalised as parseSysctlDump does). A line that starts with any other byte, a key
 * with a slash or other whitespace, a line without "=", or a dump with no kept key at all returns
 * undefined: parseSysctlDump decides (and names the line of an error).
 */
function scanPlainDump(input: Uint8Array, keep: ReadonlySet<string>): Record<string, string> | undefined {
  let byLength = keptByLength.get(keep)
  if (!byLength) {
    byLength = []
    for (const key of new Set([RELEASE_KEY, ...keep])) (byLength[key.length] ??= []).push({key, bytes: new TextEncoder().encode(key)})
    keptByLength.set(keep, byLength)
  }
  // A plain Uint8Array view: indexing a Buffer subclass is slower in the loops below.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  const n = bytes.length
  const out: Record<string, string> = {}
  let found = false
  let pos = 0
  while (pos < n) {
    let eol = bytes.indexOf(NL, pos)
    if (eol === -1) eol = n
    let i = pos
    pos = eol + 1
    while (i < eol && (bytes[i] === SPACE || bytes[i] === TAB)) i++
    const first = i < eol ? bytes[i]! : NL
    if (first === NL || first === 35 /* # */ || first === 59 /* ; */ || (first === CR && i + 1 === eol)) continue
    if (first === 115 /* s */ && i + SYSCTL_NOTICE.length <= eol && bytesAt(bytes, i, SYSCTL_NOTICE)) continue
    const keyStart = i
    while (i < eol && KEY_BYTE[bytes[i]!] === 1) i++
    const keyEnd = i
    while (i < eol && (bytes[i] === SPACE || bytes[i] === TAB)) i++
    if (keyEnd === keyStart || i === eol || bytes[i] !== EQ) return undefined
    const candidates = byLength[keyEnd - keyStart]
    if (candidates === undefined) continue
    for (const k of candidates) {
      if (bytesAt(bytes, keyStart, k.bytes)) {
        out[k.key] = normalizeValue(Buffer.from(bytes.buffer, bytes.byteOffset + i + 1, eol - i - 1).toString('utf8'))
        found = true
        break
      }
    }
  }
  return found ? out : undefined
}

/** `--sysctl-file FILE`, or `-` for stdin. */
export async function readDumpFile(file: string): Promise<Facts> {
  let text: string
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
  } catch (error) {
    throw new TwError('dump.read', `cannot read sysctl dump: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      position: {file},
    })
  }
  return factsFromDump(text, file === '-' ? 'stdin' : file)
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
