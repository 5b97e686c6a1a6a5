import {TwError} from '../errors.js'
import {parseKernel} from '../facts/kernel.js'
import {normalizeKey, normalizeValue} from '../facts/normalize.js'
import type {Facts} from '../facts/types.js'
import {VALUE_SPECS, valueProblem} from '../facts/values.js'
import {assertStdinNotTerminal, forEachLine, MAX_DUMP_BYTES, openRegular} from '../util/input-file.js'
import {shown} from '../util/text.js'

/**
 * `sysctl -a` text, one line at a time: `k = v` or `k=v`, tabs or spaces inside values, `#`/`;`
 * comments and blank lines. Output captured with 2>&1 also holds the tool's own notices, in the
 * forms of every procps generation: "sysctl: permission denied on key ...", "sysctl: reading key
 * ...", `error: "Input/output error" reading key "..."`, "error: permission denied on key ...":
 * skipped, not errors. The values of the keys the model reads are checked against what the kernel
 * accepts (facts/values.ts), so a value that does not parse is an error at its line, never a
 * silent 0 or default. With `keep`, only those keys (and kernel.osrelease) are stored.
 */
export class DumpReader {
  private readonly out: Record<string, string> = Object.create(null) as Record<string, string>
  private lineNo = 0
  private linux = false
  private count = 0

  constructor(
    readonly file: string,
    private readonly keep?: ReadonlySet<string>,
  ) {}

  line(raw: string): void {
    const lineNo = ++this.lineNo
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    if (NOTICE.test(line)) return
    const eq = line.indexOf('=')
    if (eq <= 0) {
      throw new TwError('dump.syntax', `expected "key = value", got "${shown(line, 60)}"`, {
        position: {file: this.file, line: lineNo, col: 1},
        hint: 'a sysctl dump is the output of `sysctl -a`',
      })
    }
    const rawKey = line.slice(0, eq)
    const key = rawKey.includes('/') ? normalizeKey(rawKey) : rawKey.trimEnd()
    if (!KEY.test(key) || !key.includes('.')) {
      throw new TwError('dump.key', `"${shown(key, 80)}" is not a sysctl key`, {position: {file: this.file, line: lineNo, col: 1}})
    }
    const rawValue = line.slice(eq + 1)
    // normalizeValue's result without its split and join when only single plain spaces occur.
    const value = PLAIN_VALUE.test(rawValue) ? rawValue.trim() : normalizeValue(rawValue)
    const problem = valueProblem(key, value)
    if (problem !== null) {
      throw new TwError('dump.value', shown(problem, 120), {
        position: {file: this.file, line: lineNo, field: key},
        hint: 'a dump is `sysctl -a` output from the host, unedited',
      })
    }
    this.count++
    if (!this.linux && (key.startsWith('kernel.') || key.startsWith('net.'))) this.linux = true
    if (this.keep === undefined || key === RELEASE_KEY || this.keep.has(key)) this.out[key] = value
  }

  /** The lines read so far (for errors about the reading itself). */
  get lines(): number {
    return this.lineNo
  }

  /** The sysctls; refuses a text with no setting, or none a Linux dump always has. */
  finish(): Record<string, string> {
    // An empty dump usually means `sysctl -a` failed upstream: findings about defaults would be
    // findings about a host that was never read.
    if (this.count === 0) {
      throw new TwError('dump.empty', 'the sysctl dump has no keys', {position: {file: this.file}, hint: 'capture it with `sysctl -a > FILE`'})
    }
    if (!this.linux) {
      throw new TwError('dump.not-linux', 'is not a Linux sysctl dump: no kernel.* or net.* key in it', {position: {file: this.file}, hint: 'capture it with `sysctl -a > FILE` on the host'})
    }
    return {...this.out}
  }
}

/** A key as /proc/sys names it: dotted, printable, no blanks (interface names may hold odd characters). */
const KEY = /^[\x21-\x3c\x3e-\x7e]+$/
/** A value whose whitespace is single plain spaces only (any other whitespace, or two in a row, needs normalizeValue). */
const PLAIN_VALUE = /^(?:[^\s]| (?! ))*$/
/** procps' own notices when its stderr was captured too. */
const NOTICE = /^(?:sysctl|error):/

/** Parse a whole dump's text; the same rules as the streamed read (DumpReader). */
export function parseSysctlDump(text: string, file: string): Record<string, string> {
  const r = new DumpReader(file)
  for (const line of text.split('\n')) r.line(line)
  return r.finish()
}

/**
 * A dump as facts. With `keep`, only those keys are returned (a fleet run needs 15 of a dump's
 * ~1,300 values), and the result is exactly the full parse restricted to `keep`: every line is
 * still validated. Given the file's bytes, a dump in the usual shape is scanned without decoding
 * it (scanPlainDump); anything unusual goes through DumpReader, which has the last word and
 * reports errors with their line.
 */
export function factsFromDump(input: string | Uint8Array, source: string, opts: {keep?: ReadonlySet<string>} = {}): Facts {
  const {keep} = opts
  let sysctls = keep && typeof input !== 'string' ? scanPlainDump(input, keep) : undefined
  if (sysctls === undefined) {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8')
    const r = new DumpReader(source, keep)
    for (const line of text.split('\n')) r.line(line)
    sysctls = r.finish()
  }
  return dumpFacts(sysctls, source, keep)
}

function dumpFacts(sysctls: Record<string, string>, source: string, keep?: ReadonlySet<string>): Facts {
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
const DOT = 46
const KEY_BYTE = new Uint8Array(256)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-') KEY_BYTE[c.charCodeAt(0)] = 1
const SYSCTL_NOTICE = new TextEncoder().encode('sysctl:')
const ERROR_NOTICE = new TextEncoder().encode('error:')

interface KeptKey {
  key: string
  bytes: Uint8Array
  /** Kept (stored) rather than only judged. */
  store: boolean
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
    // The judged keys too (facts/values.ts): their values are checked even when not kept, as the full parse does.
    for (const key of new Set([RELEASE_KEY, ...keep, ...Object.keys(VALUE_SPECS)])) {
      ;(byLength[key.length] ??= []).push({key, bytes: new TextEncoder().encode(key), store: key === RELEASE_KEY || keep.has(key)})
    }
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
    if (first === 101 /* e */ && i + ERROR_NOTICE.length <= eol && bytesAt(bytes, i, ERROR_NOTICE)) continue
    const keyStart = i
    let dotted = false
    while (i < eol && KEY_BYTE[bytes[i]!] === 1) {
      if (bytes[i] === DOT) dotted = true
      i++
    }
    const keyEnd = i
    if (!dotted) return undefined
    while (i < eol && (bytes[i] === SPACE || bytes[i] === TAB)) i++
    if (keyEnd === keyStart || i === eol || bytes[i] !== EQ) return undefined
    const candidates = byLength[keyEnd - keyStart]
    if (candidates === undefined) continue
    for (const k of candidates) {
      if (bytesAt(bytes, keyStart, k.bytes)) {
        const value = normalizeValue(Buffer.from(bytes.buffer, bytes.byteOffset + i + 1, eol - i - 1).toString('utf8'))
        // A kept value that does not fit its key: the full parse names the line.
        if (valueProblem(k.key, value) !== null) return undefined
        if (k.store) {
          out[k.key] = value
          found = true
        }
        break
      }
    }
  }
  return found ? out : undefined
}

/**
 * `--sysctl-file FILE`, or `-` for stdin: streamed line by line (memory bounded by one chunk,
 * one line and the distinct keys), only from a regular file or a pipe, at most MAX_DUMP_BYTES.
 */
export async function readDumpFile(file: string): Promise<Facts> {
  const source = file === '-' ? 'stdin' : file
  const reader = new DumpReader(source)
  if (file === '-') {
    assertStdinNotTerminal('--sysctl-file')
    await readLines(process.stdin, source, reader)
  } else {
    const {fh} = await openRegular(file, 'dump.read', 'sysctl dump', MAX_DUMP_BYTES)
    try {
      await readLines(fh.createReadStream({highWaterMark: 1024 * 1024, autoClose: false}), source, reader)
    } finally {
      await fh.close()
    }
  }
  return dumpFacts(reader.finish(), source)
}

async function readLines(stream: AsyncIterable<Buffer | string>, file: string, reader: DumpReader): Promise<void> {
  try {
    await forEachLine(stream, file, 'dump.read', MAX_DUMP_BYTES, (line) => reader.line(line))
  } catch (error) {
    if (error instanceof TwError) throw error
    throw new TwError('dump.read', `cannot read sysctl dump: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {position: {file}})
  }
}
