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

export function factsFromDump(text: string, source: string): Facts {
  const sysctls = parseSysctlDump(text, source)
  // An empty dump usually means `sysctl -a` failed upstream: findings about defaults would be
  // findings about a host that was never read.
  if (Object.keys(sysctls).length === 0) {
    throw new TwError('dump.empty', 'the sysctl dump has no keys', {position: {file: source}, hint: 'capture it with `sysctl -a > FILE`'})
  }
  const release = sysctls['kernel.osrelease']
  return {source, kernel: release ? parseKernel(release) : null, sysctls, counters: {}}
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
