// Issue 11 items 2, 4, 6, 8, 9 and issue 12 item 1: broken or hostile inputs end in one line
// naming file:line:field (exit 1), never a silent verdict change, a hang or a raw control byte.
import {execFileSync, spawnSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {factsFromDump, parseSysctlDump} from '../../src/sources/dump.js'
import {assertStdinNotTerminal} from '../../src/util/input-file.js'
import {shown} from '../../src/util/text.js'
import {BIN, FIXTURES, run} from '../e2e/helpers.js'

const DUMP_618 = join(FIXTURES, 'sysctl-6.18.44.txt')
const CLIENT = 'host: web-01\nflows:\n  - name: to-cache\n    role: client\n    peer: 10.0.2.20:11211\n    qps: 600\n    closes_first: client\n'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'twharden-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

/** The 6.18 dump with one key's line replaced; returns the path and the line number it sits on. */
function dumpWith(key: string, value: string): {path: string; line: number} {
  const lines = readFileSync(DUMP_618, 'utf8').split('\n')
  const i = lines.findIndex((l) => l.startsWith(`${key} =`))
  expect(i).toBeGreaterThanOrEqual(0)
  lines[i] = `${key} = ${value}`
  return {path: file('dump.txt', lines.join('\n')), line: i + 1}
}

function expectOneLineError(r: {code: number | null; stderr: string}, pattern: RegExp | string): void {
  expect(r.code, r.stderr).toBe(1)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines, r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  if (typeof pattern === 'string') expect(lines[0]).toContain(pattern)
  else expect(lines[0]).toMatch(pattern)
}

describe('dump values are judged per key (item 2)', () => {
  const cases: [string, string, RegExp][] = [
    ['net.ipv4.tcp_tw_reuse', '', /not one of 0, 1, 2/],
    ['net.ipv4.tcp_max_tw_buckets', 'abc', /not a decimal integer/],
    ['net.ipv4.tcp_max_tw_buckets', '0x10', /not a decimal integer/],
    ['net.ipv4.ip_local_port_range', '0 70000', /outside 1\.\.65535/],
    ['net.ipv4.ip_local_port_range', '60999 32768', /low 60999 is above high 32768/],
    ['net.ipv4.ip_local_port_range', '32768', /not "LOW HIGH"/],
    ['net.ipv4.tcp_timestamps', 'yes', /not one of 0, 1, 2/],
    ['net.ipv4.tcp_max_tw_buckets', '99999999999', /not a decimal integer|outside/],
    ['kernel.osrelease', '999999999.1junk', /not a kernel release/],
  ]
  for (const [key, value, why] of cases) {
    it(`${key} = "${value}" is an error at file:line: key`, () => {
      const {path, line} = dumpWith(key, value)
      const r = run(['check', '-t', file('t.yaml', CLIENT), '-s', path])
      expectOneLineError(r, `${path}:${line}: ${key}: `)
      expect(r.stderr).toMatch(why)
    })
  }

  it('the fleet path (bytes, kept keys) reports the same error at the same line', () => {
    const {path, line} = dumpWith('net.ipv4.tcp_tw_reuse', '')
    const e = (() => {
      try {
        factsFromDump(readFileSync(path), path, {keep: new Set(['net.ipv4.tcp_tw_reuse'])})
      } catch (error) {
        return error as TwError
      }
      return undefined
    })()
    expect(e?.position).toMatchObject({file: path, line, field: 'net.ipv4.tcp_tw_reuse'})
  })

  it('an empty ip_local_reserved_ports is a real value, not an error', () => {
    expect(parseSysctlDump('kernel.osrelease = 6.1.0\nnet.ipv4.ip_local_reserved_ports = \n', 'd')['net.ipv4.ip_local_reserved_ports']).toBe('')
  })
})

describe('real `sysctl -a 2>&1` output (issue 12 item 1)', () => {
  it('skips the notices of every procps generation and # notes; keeps the values', () => {
    const text = [
      '# captured with sysctl -a 2>&1',
      'kernel.osrelease = 4.9.0-8-amd64',
      'error: "Input/output error" reading key "net.ipv6.conf.all.stable_secret"',
      'error: permission denied on key \'net.ipv4.route.flush\'',
      'sysctl: permission denied on key \'fs.protected_fifos\'',
      'sysctl: reading key "net.ipv6.conf.default.stable_secret"',
      'sysctl: permission denied on key "kernel.cad_pid", ignoring',
      'net.ipv4.tcp_tw_reuse = 0',
      'net.ipv4.ip_local_port_range = 32768\t60999',
      '',
    ].join('\n')
    const full = factsFromDump(text, 'old.txt')
    expect(full.sysctls).toMatchObject({'net.ipv4.tcp_tw_reuse': '0', 'net.ipv4.ip_local_port_range': '32768 60999'})
    expect(full.kernel?.raw).toBe('4.9.0-8-amd64')
    const kept = factsFromDump(Buffer.from(text), 'old.txt', {keep: new Set(['net.ipv4.tcp_tw_reuse'])})
    expect(kept.sysctls).toEqual({'net.ipv4.tcp_tw_reuse': '0'})
  })

  it('still refuses files that are not a Linux dump: env files, INI, a topology, only notices', () => {
    const codeOf = (text: string) => {
      try {
        factsFromDump(text, 'x')
      } catch (error) {
        return (error as TwError).code
      }
      return 'accepted'
    }
    expect(codeOf('PATH=/usr/bin\nHOME=/root\n')).toBe('dump.key')
    expect(codeOf('[main]\nsummary=x\n')).toBe('dump.syntax')
    expect(codeOf(CLIENT)).toBe('dump.syntax')
    expect(codeOf('error: "x" reading key "y"\nsysctl: reading key "z"\n')).toBe('dump.empty')
    expect(codeOf('fs.file-max = 100\nvm.swappiness = 60\n')).toBe('dump.not-linux')
  })
})

describe('--waive is checked like a topology waiver (item 4)', () => {
  const t = () => file('t.yaml', CLIENT)
  it.each([
    ['client-port-exhaustion:no-such-flow', /no topology of this run has/],
    ['client-port-exhaustion:', /is not ID or ID:flow/],
    ['client-port-exhaustion:to-cache:extra', /is not ID or ID:flow/],
    [':to-cache', /is not ID or ID:flow/],
  ])('--waive %s is bad input, one line', (w, why) => {
    const r = run(['check', '-t', t(), '-s', DUMP_618, '--waive', w])
    expectOneLineError(r, why)
    expect(r.stderr).toContain('--waive')
  })

  it('--waive ID:flow with a real flow still waives it', () => {
    const r = run(['check', '-t', t(), '-s', DUMP_618, '--waive', 'client-port-exhaustion:to-cache', '--format', 'json'])
    const f = (JSON.parse(r.stdout) as {hosts: {findings: {id: string; waived?: unknown}[]}[]}).hosts[0]!.findings.find((x) => x.id === 'client-port-exhaustion')
    expect(f?.waived).toBeDefined()
  })
})

describe('echoed input is escaped and cut (item 6)', () => {
  it('an OSC sequence in a dump line never reaches the terminal raw', () => {
    const path = file('osc.txt', `kernel.osrelease = 6.1.0\n\u001b]0;pwned\u0007 no equals here\n`)
    const r = run(['check', '-t', file('t.yaml', CLIENT), '-s', path])
    expectOneLineError(r, `${path}:2:1:`)
    expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
    expect(r.stderr).toContain('\\x1b]0;pwned\\x07')
  })

  it('a 1.2 MB bad key is cut to a line that fits', () => {
    const path = file('big.txt', `kernel.osrelease = 6.1.0\n${'k'.repeat(1_200_000)} x = 1\n`)
    const r = run(['check', '-t', file('t.yaml', CLIENT), '-s', path])
    expect(r.code).toBe(1)
    expect(r.stderr.length).toBeLessThan(600)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
  })

  it('shown() escapes every line break and control, and says how much it cut', () => {
    expect(shown('a\nb\r\u2028\u0085\u001b[2J\u202e')).toBe('a\\nb\\r\\u2028\\x85\\x1b[2J\\u202e')
    expect(shown('x'.repeat(10), 4)).toBe('xxxx…(+6 chars)')
  })
})

describe('files that are not regular files, and stdin (item 8)', () => {
  it('a FIFO as -t or -s is refused at once (no hang)', () => {
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const t0 = Date.now()
    expectOneLineError(run(['check', '-t', fifo, '-s', DUMP_618]), `${fifo}: is a FIFO, not a regular file`)
    expectOneLineError(run(['check', '-t', file('t.yaml', CLIENT), '-s', fifo]), `${fifo}: is a FIFO, not a regular file`)
    expect(Date.now() - t0).toBeLessThan(20_000)
  })

  it('/dev/zero as a dump is refused as a device; piped in, its first "line" is refused as too long', () => {
    expectOneLineError(run(['check', '-t', file('t.yaml', CLIENT), '-s', '/dev/zero']), '/dev/zero: is a character device')
    const r = spawnSync('sh', ['-c', `head -c 50000000 /dev/zero | "${process.execPath}" "${BIN}" check -t "${file('t.yaml', CLIENT)}" -s -`], {encoding: 'utf8', timeout: 60_000})
    expectOneLineError({code: r.status, stderr: r.stderr}, /stdin:1: line 1 is longer than 65536 bytes/)
  })

  it('a directory as -t is refused', () => {
    expectOneLineError(run(['check', '-t', dir, '-s', DUMP_618]), `${dir}: is a directory`)
  })

  it('-s - on a terminal refuses with a hint instead of waiting', () => {
    expect(() => assertStdinNotTerminal('--sysctl-file', {isTTY: true})).toThrow(/stdin is a terminal/)
    expect(() => assertStdinNotTerminal('--sysctl-file', {isTTY: false})).not.toThrow()
    // Through a real pseudo-terminal: script(1) gives the command a tty on stdin.
    const t = file('t.yaml', CLIENT)
    const r = spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" check -t "${t}" -s -`, '/dev/null'], {encoding: 'utf8', timeout: 30_000, input: ''})
    expect(r.stdout).toContain('stdin is a terminal')
    expect(r.status).toBe(1)
  })

  it('generate -o "" does not name the working directory', () => {
    expectOneLineError(run(['generate', '--example', '-o', '']), '--output: is empty')
  })
})

describe('fleet output (item 9)', () => {
  it('two host folders with the same host: label get their own SARIF locations; error entries carry no findings', () => {
    const hosts = join(dir, 'hosts')
    for (const name of ['a', 'b']) {
      mkdirSync(join(hosts, name), {recursive: true})
      copyFileSync(DUMP_618, join(hosts, name, 'sysctl.txt'))
      writeFileSync(join(hosts, name, 'topology.yaml'), CLIENT)
    }
    mkdirSync(join(hosts, 'c'))
    writeFileSync(join(hosts, 'c', 'topology.yaml'), CLIENT)
    const sarif = JSON.parse(run(['check', '--hosts', hosts, '--format', 'sarif']).stdout) as {runs: {results: {locations?: {physicalLocation: {artifactLocation: {uri: string}}}[]}[]}[]}
    const uris = new Set(sarif.runs[0]!.results.map((r) => r.locations?.[0]?.physicalLocation.artifactLocation.uri))
    expect(uris).toEqual(new Set([join(hosts, 'a', 'topology.yaml'), join(hosts, 'b', 'topology.yaml')]))
    const json = JSON.parse(run(['check', '--hosts', hosts, '--format', 'json']).stdout) as {hosts: Record<string, unknown>[]}
    const broken = json.hosts.find((h) => h.error !== undefined)!
    expect(broken).not.toHaveProperty('findings')
  })
})
