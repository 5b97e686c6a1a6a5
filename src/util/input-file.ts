import {closeSync, constants, fstatSync, openSync, readFileSync} from 'node:fs'
import {open, type FileHandle} from 'node:fs/promises'
import {StringDecoder} from 'node:string_decoder'

import {TwError} from '../errors.js'

/**
 * Opening an input file (-t, -s) without surprises: only a regular file (a FIFO would block
 * forever, /dev/zero never ends, a directory is a mistake), opened without blocking on a FIFO,
 * with a size limit; `-` is stdin, refused on a terminal rather than waiting silently.
 */

/** The largest dump read (documented in the README): a real `sysctl -a` is 50–500 KB. */
export const MAX_DUMP_BYTES = 512 * 1024 * 1024
/** The largest topology read: 10,000 flows take about 1.5 MB. */
export const MAX_TOPOLOGY_BYTES = 64 * 1024 * 1024
/** The longest line of a dump: real ones stay under 4 KB. */
export const MAX_LINE_BYTES = 64 * 1024

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error)
}

/** A regular file, opened (caller closes), with its size; every refusal is a TwError with `code`. */
export async function openRegular(file: string, code: string, what: string, maxBytes: number): Promise<{fh: FileHandle; size: number}> {
  if (file === '') throw new TwError(code, `no ${what} file named (an empty path)`, {position: {field: what}})
  let fh: FileHandle
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    throw new TwError(code, `cannot read ${what}: ${errnoOf(error)}`, {position: {file}})
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isSocket() ? 'a socket' : 'not a regular file'
      throw new TwError(code, `is ${kind}, not a regular file`, {position: {file}, hint: `pass a ${what} file, or - to read stdin`})
    }
    if (st.size > maxBytes) {
      throw new TwError(code, `is ${st.size} bytes; the limit for a ${what} is ${maxBytes} bytes`, {position: {file}})
    }
    return {fh, size: st.size}
  } catch (error) {
    await fh.close()
    throw error
  }
}

/** A whole regular file as text (for small inputs such as a topology). */
export async function readRegularText(file: string, code: string, what: string, maxBytes: number): Promise<string> {
  const {fh} = await openRegular(file, code, what, maxBytes)
  try {
    return await fh.readFile('utf8')
  } catch (error) {
    throw new TwError(code, `cannot read ${what}: ${errnoOf(error)}`, {position: {file}})
  } finally {
    await fh.close()
  }
}

/** Refuses stdin when it is a terminal: nobody types a sysctl dump, and a silent wait looks like a hang. */
export function assertStdinNotTerminal(flag: string, stdin: {isTTY?: boolean} = process.stdin): void {
  if (stdin.isTTY) {
    throw new TwError('input.stdin-tty', `${flag} - reads a dump from stdin, and stdin is a terminal`, {
      position: {field: flag},
      hint: 'pipe it in: sysctl -a | twadvisor check -s - -t FILE',
    })
  }
}

/**
 * Feeds `onLine` every line of a byte stream, decoded as UTF-8, in bounded memory: at most one
 * chunk and one line held at a time. Refuses a line over MAX_LINE_BYTES and a stream over
 * `maxBytes` with a TwError naming the file and line.
 */
export async function forEachLine(
  chunks: AsyncIterable<Buffer | string>,
  file: string,
  code: string,
  maxBytes: number,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new StringDecoder('utf8')
  let carry = ''
  let total = 0
  let lineNo = 0
  const tooLong = () =>
    new TwError(code, `line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes; not a sysctl dump`, {position: {file, line: lineNo + 1}})
  for await (const chunk of chunks) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    total += buf.length
    if (total > maxBytes) throw new TwError(code, `is over the ${maxBytes}-byte limit for a sysctl dump`, {position: {file}})
    const text = carry + decoder.write(buf)
    let start = 0
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (nl - start > MAX_LINE_BYTES) throw tooLong()
      lineNo++
      onLine(text.slice(start, nl))
      start = nl + 1
    }
    carry = text.slice(start)
    if (carry.length > MAX_LINE_BYTES) throw tooLong()
  }
  const rest = carry + decoder.end()
  if (rest.length > MAX_LINE_BYTES) throw tooLong()
  onLine(rest)
}

/** openRegular and a whole read, synchronously (the fleet reader reads many small files). */
export function readRegularSync(file: string, code: string, what: string, maxBytes: number): Buffer {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    const errno = errnoOf(error)
    throw new TwError(code, errno === 'ENOENT' ? 'missing' : `cannot read ${what}: ${errno}`, {position: {file}})
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new TwError(code, `is not a regular file`, {position: {file}, hint: `a ${what} is a plain file`})
    if (st.size > maxBytes) throw new TwError(code, `is ${st.size} bytes; the limit for a ${what} is ${maxBytes} bytes`, {position: {file}})
    return readFileSync(fd)
  } finally {
    closeSync(fd)
  }
}
