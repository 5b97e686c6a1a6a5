import {readFileSync} from 'node:fs'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {parseProcNet, parseSockstatTimeWait} from '../../src/sources/counters.js'
import {factsFromDump, parseSysctlDump, readDumpFile} from '../../src/sources/dump.js'
import {hostParams} from '../../src/model/host.js'

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name)
const REAL_618 = fixture('sysctl-6.18.44.txt')
const OLD_310 = fixture('sysctl-3.10-tw-recycle.txt')

/** Run fn, expect a TwError, and hand it back for assertions on its position. */
function twErrorOf(fn: () => unknown): TwError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(TwError)
    return error as TwError
  }
  throw new Error('expected a TwError, nothing was thrown')
}

describe('a real `sysctl -a` from 6.18.44 (test/fixtures/sysctl-6.18.44.txt)', () => {
  const text = readFileSync(REAL_618, 'utf8')
  const facts = factsFromDump(text, REAL_618)

  it('keeps every distinct key of the dump', () => {
    // kernel.core_modes prints one line per value (file, pipe, socket): 1,304 lines, 1,302 keys.
    const keys = new Set(text.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('=')[0]!.trim()))
    expect(keys.size).toBe(1302)
    expect(Object.keys(facts.sysctls).sort()).toEqual([...keys].sort())
    expect(facts.sysctls['net.ipv4.tcp_tw_reuse']).toBe('2')
    expect(facts.sysctls['net.ipv4.tcp_tw_reuse_delay']).toBe('1000')
    expect(facts.sysctls['net.ipv4.tcp_max_tw_buckets']).toBe('131072')
    expect(facts.sysctls['net.ipv4.tcp_timestamps']).toBe('1')
    expect(facts.sysctls['net.ipv4.ip_unprivileged_port_start']).toBe('1024')
  })

  it('normalises the tab inside ip_local_port_range to one space', () => {
    expect(text).toContain('net.ipv4.ip_local_port_range = 32768\t60999')
    expect(facts.sysctls['net.ipv4.ip_local_port_range']).toBe('32768 60999')
  })

  it('normalises every multi-value key (tcp_rmem, file-nr) to single spaces', () => {
    for (const [k, v] of Object.entries(facts.sysctls)) {
      expect(v, k).not.toMatch(/\t| {2}/)
      expect(v, k).toBe(v.trim())
    }
    expect(facts.sysctls['fs.file-nr']).toMatch(/^\d+ \d+ \d+$/)
  })

  it('keeps an empty value as an empty string (ip_local_reserved_ports is present, empty)', () => {
    expect(facts.sysctls['net.ipv4.ip_local_reserved_ports']).toBe('')
  })

  it('reads the kernel version from kernel.osrelease, vendor suffix kept in raw', () => {
    expect(facts.kernel).toEqual({major: 6, minor: 18, patch: 44, raw: '6.18.44-fc-v669'})
    expect(facts.source).toBe(REAL_618)
    expect(facts.counters).toEqual({})
  })

  it('gives the model this host range and the default 28,232 ports', () => {
    const p = hostParams(facts)
    expect(p.portRange).toEqual([32768, 60999])
    expect(p.portRangeDeclared).toBe(true)
    expect(p.twReuse).toBe(2)
    expect(p.twRecycle).toBeNull()
  })
})

describe('dump syntax variants', () => {
  it('accepts k=v without spaces and k = v with spaces alike', () => {
    const s = parseSysctlDump('net.ipv4.tcp_tw_reuse=1\nnet.ipv4.tcp_timestamps = 0\n', 't')
    expect(s).toEqual({'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '0'})
  })

  it('accepts tabs around the "=" and inside values, collapsing runs of blanks', () => {
    const s = parseSysctlDump('net.ipv4.ip_local_port_range\t=\t1024 \t  65535  \n', 't')
    expect(s['net.ipv4.ip_local_port_range']).toBe('1024 65535')
  })

  it('skips # and ; comments, indented comments and blank lines', () => {
    const text = ['# a comment', '; another', '   # indented', '', '   ', 'net.ipv4.tcp_rfc1337 = 1', '\t; tab-indented'].join('\n')
    expect(parseSysctlDump(text, 't')).toEqual({'net.ipv4.tcp_rfc1337': '1'})
  })

  it('accepts CRLF line endings', () => {
    expect(parseSysctlDump('net.ipv4.tcp_tw_reuse = 1\r\nnet.ipv4.tcp_fin_timeout = 30\r\n', 't')).toEqual({
      'net.ipv4.tcp_tw_reuse': '1',
      'net.ipv4.tcp_fin_timeout': '30',
    })
  })

  it('accepts slash-separated keys (sysctl.d style) as the dotted form', () => {
    expect(parseSysctlDump('net/ipv4/tcp_tw_reuse = 1', 't')).toEqual({'net.ipv4.tcp_tw_reuse': '1'})
  })

  it('keeps an "=" inside a value (only the first "=" splits)', () => {
    expect(parseSysctlDump('kernel.core_pattern = |/bin/x a=b', 't')['kernel.core_pattern']).toBe('|/bin/x a=b')
  })

  it('skips "sysctl: permission denied" lines captured with 2>&1', () => {
    const s = parseSysctlDump('sysctl: permission denied on key "fs.protected_fifos"\nnet.ipv4.tcp_tw_reuse = 2\n', 't')
    expect(s).toEqual({'net.ipv4.tcp_tw_reuse': '2'})
  })

  it('leaves the kernel null when the dump has no kernel.osrelease', () => {
    const f = factsFromDump('net.ipv4.tcp_tw_reuse = 2\n', 'partial.txt')
    expect(f.kernel).toBeNull()
    expect(f.sysctls['net.ipv4.tcp_tw_reuse']).toBe('2')
  })
})

describe('a fabricated 3.10 vendor-kernel dump with tcp_tw_recycle (test/fixtures/sysctl-3.10-tw-recycle.txt)', () => {
  const text = readFileSync(OLD_310, 'utf8')
  const facts = factsFromDump(text, OLD_310)

  it('is marked as fabricated in its header comment', () => {
    expect(text.split('\n')[0]).toMatch(/^# FABRICATED/)
  })

  it('parses, with the 3.10 kernel version', () => {
    expect(facts.kernel).toMatchObject({major: 3, minor: 10, patch: 0, raw: '3.10.0-1160.el7.x86_64'})
  })

  it('keeps tcp_tw_recycle = 1 and the tab-separated range as "32768 60999"', () => {
    expect(facts.sysctls['net.ipv4.tcp_tw_recycle']).toBe('1')
    expect(facts.sysctls['net.ipv4.ip_local_port_range']).toBe('32768 60999')
    expect(hostParams(facts).twRecycle).toBe(1)
  })

  it('treats keys this kernel lacks as absent, not as errors or empty strings', () => {
    expect('net.ipv4.tcp_tw_reuse_delay' in facts.sysctls).toBe(false)
    expect('net.ipv4.ip_unprivileged_port_start' in facts.sysctls).toBe(false)
    expect(facts.sysctls['net.ipv4.tcp_tw_reuse_delay']).toBeUndefined()
  })

  it('lets the model fall back to the kernel defaults for the absent keys', () => {
    const p = hostParams(facts)
    // No tcp_tw_reuse_delay before 6.14: whole seconds, so up to 2 s (issue 12).
    expect(p.twReuseDelayMs).toBe(2000)
    expect(p.twReuseDelaySource).toBe('whole-seconds')
    expect(p.unprivilegedPortStart).toBe(1024)
    expect(p.twReuse).toBe(0)
    expect(p.vendorTimeWaitSeconds).toBeNull()
    expect(p.timeWaitSeconds).toBe(60)
  })
})

describe('dump errors name the file and the line', () => {
  it('a line without "=" is a TwError at file:line:1', () => {
    const text = 'net.ipv4.tcp_tw_reuse = 1\n# ok\n\nthis line has no equals sign\nnet.ipv4.tcp_timestamps = 1\n'
    const e = twErrorOf(() => parseSysctlDump(text, 'dump.txt'))
    expect(e.code).toBe('dump.syntax')
    expect(e.position).toMatchObject({file: 'dump.txt', line: 4, col: 1})
    expect(e.oneLine()).toMatch(/^dump\.txt:4:1: /)
    expect(e.message).toContain('this line has no equals sign')
  })

  it('a line starting with "=" (no key) is an error, not an empty key', () => {
    const e = twErrorOf(() => parseSysctlDump('net.ipv4.tcp_tw_reuse = 1\n= 5\n', 'd.txt'))
    expect(e.position).toMatchObject({file: 'd.txt', line: 2})
  })

  it('a key with characters no sysctl has is an error at its line', () => {
    const e = twErrorOf(() => parseSysctlDump('fs.a = 1\nvm.b = 2\nnet.ipv4 tcp_tw_reuse = 1\n', 'k.txt'))
    expect(e.code).toBe('dump.key')
    expect(e.position).toMatchObject({file: 'k.txt', line: 3})
  })

  it('a bad line in a file read from disk names that file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-dump-'))
    const file = join(dir, 'broken.txt')
    writeFileSync(file, 'net.ipv4.tcp_tw_reuse = 1\ngarbage\n')
    await expect(readDumpFile(file)).rejects.toMatchObject({position: {file, line: 2}})
  })

  it('a missing file is a TwError dump.read naming the file, with the errno', async () => {
    const file = join(tmpdir(), `tw-no-such-file-${process.pid}.txt`)
    const err = await readDumpFile(file).catch((error: unknown) => error)
    expect(err).toBeInstanceOf(TwError)
    expect((err as TwError).code).toBe('dump.read')
    expect((err as TwError).position.file).toBe(file)
    expect((err as TwError).message).toContain('ENOENT')
  })
})

describe('counters: /proc/net/netstat and /proc/net/snmp from this machine', () => {
  const netstat = readFileSync(fixture('netstat-6.18.44.txt'), 'utf8')
  const snmp = readFileSync(fixture('snmp-6.18.44.txt'), 'utf8')
  const c = parseProcNet(netstat)

  it('names TcpExt counters the way nstat does (TcpExtTW, TcpExtTWRecycled, ...)', () => {
    expect(c.TcpExtTW).toBe(10)
    expect(c.TcpExtTWRecycled).toBe(0)
    expect(c.TcpExtTWKilled).toBe(0)
    expect(c.TcpExtPAWSTimewait).toBe(0)
    expect(c.TcpExtTCPTimeWaitOverflow).toBe(0)
    expect(c.TcpExtTCPACKSkippedTimeWait).toBe(0)
    expect(c.TcpExtDelayedACKs).toBe(20)
  })

  it('reads every group of the file (TcpExt, IpExt, MPTcpExt), one value per header name', () => {
    const groups = netstat.split('\n').filter((l) => l.trim() !== '')
    let expected = 0
    for (let i = 0; i < groups.length; i += 2) expected += groups[i]!.trim().split(/\s+/).length - 1
    expect(Object.keys(c)).toHaveLength(expected)
    expect(c.IpExtInOctets).toBe(179939783)
    expect(c.MPTcpExtMPCapableSYNRX).toBe(0)
  })

  it('reads /proc/net/snmp Tcp counters (ActiveOpens, AttemptFails, OutRsts) and keeps MaxConn -1', () => {
    const s = parseProcNet(snmp)
    expect(s.TcpActiveOpens).toBe(42)
    expect(s.TcpPassiveOpens).toBe(2)
    expect(s.TcpAttemptFails).toBe(0)
    expect(s.TcpOutRsts).toBe(62)
    expect(s.TcpMaxConn).toBe(-1)
    expect(s.IpForwarding).toBe(2)
  })

  it('ignores a header whose value line belongs to another group', () => {
    expect(parseProcNet('TcpExt: TW TWRecycled\nIpExt: 1 2\n')).toEqual({})
  })

  it('reads the TIME_WAIT count from /proc/net/sockstat', () => {
    const sockstat = readFileSync(fixture('sockstat-6.18.44.txt'), 'utf8')
    expect(parseSockstatTimeWait(sockstat)).toBe(0)
    expect(parseSockstatTimeWait('TCP: inuse 5 orphan 0 tw 12 alloc 7 mem 1')).toBe(12)
    expect(parseSockstatTimeWait('UDP: inuse 0 mem 0')).toBeUndefined()
  })
})

describe('parseProcNet with keep (fleet runs): the full parse, restricted to the kept counters', () => {
  const netstat = readFileSync(fixture('netstat-6.18.44.txt'), 'utf8')
  const snmp = readFileSync(fixture('snmp-6.18.44.txt'), 'utf8')
  // Names across groups, one that exists in none, and one whose group prefix is another group's (Tcp / TcpExt).
  const keep = new Set(['TcpExtTW', 'TcpExtPAWSTimewait', 'TcpActiveOpens', 'IpExtInOctets', 'UdpInDatagrams', 'TcpNoSuchCounter', 'TcpExtTCPSynRetrans'])

  it('on this machine\'s /proc/net/netstat and /proc/net/snmp', () => {
    for (const text of [netstat, snmp, netstat + snmp]) {
      const full = parseProcNet(text)
      expect(parseProcNet(text, keep)).toEqual(Object.fromEntries(Object.entries(full).filter(([k]) => keep.has(k))))
    }
    expect(Object.keys(parseProcNet(netstat + snmp, keep)).sort()).toEqual(['IpExtInOctets', 'TcpActiveOpens', 'TcpExtPAWSTimewait', 'TcpExtTCPSynRetrans', 'TcpExtTW', 'UdpInDatagrams'])
  })
})

describe('factsFromDump with keep (fleet runs): exactly the full parse, restricted to the kept keys', () => {
  const KEEP = new Set(['net.ipv4.tcp_tw_reuse', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_timestamps'])

  /** The definition: parse every line, keep the kept keys; the kernel from kernel.osrelease either way. */
  function reference(text: string): {sysctls: Record<string, string>; kernel: string | null} | {code: string; line?: number} {
    try {
      const all = factsFromDump(text, 'f')
      return {sysctls: Object.fromEntries(Object.entries(all.sysctls).filter(([k]) => KEEP.has(k))), kernel: all.kernel?.raw ?? null}
    } catch (error) {
      return {code: (error as TwError).code, line: (error as TwError).position.line}
    }
  }
  /** As a fleet run reads a dump: its bytes. */
  function withKeep(text: string): ReturnType<typeof reference> {
    try {
      const f = factsFromDump(Buffer.from(text), 'f', {keep: KEEP})
      return {sysctls: f.sysctls, kernel: f.kernel?.raw ?? null}
    } catch (error) {
      return {code: (error as TwError).code, line: (error as TwError).position.line}
    }
  }

  it('on the real 6.18 dump: the kept keys, the kernel, and nothing else', () => {
    const text = readFileSync(REAL_618, 'utf8')
    const f = factsFromDump(readFileSync(REAL_618), REAL_618, {keep: KEEP})
    expect(f.sysctls).toEqual({'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_timestamps': '1'})
    expect(f.kernel?.raw).toBe('6.18.44-fc-v669')
    expect(withKeep(text)).toEqual(reference(text))
  })

  it('a bad line is the same error at the same line', () => {
    const text = 'kernel.osrelease = 6.1.0\nnet.ipv4.tcp_tw_reuse = 1\nnot a sysctl line\n'
    expect(withKeep(text)).toEqual({code: 'dump.syntax', line: 3})
  })

  it('agrees with the full parse on generated dumps (keys, separators, blanks, CR, odd whitespace, bad lines)', () => {
    const key = fc.constantFrom(
      'net.ipv4.tcp_tw_reuse',
      'net.ipv4.tcp_tw_reuse_delay',
      'net.ipv4.tcp_tw_reuse.x',
      'net.ipv4.ip_local_port_range',
      'net/ipv4/tcp_timestamps',
      'kernel.osrelease',
      'fs.file-nr',
      'sysctlx',
      '__proto__',
    )
    // Mostly the plain shape, so the fast path is taken often; now and then what must leave it.
    const blank = fc.oneof({arbitrary: fc.constantFrom('', ' ', '\t', ' \t '), weight: 6}, {arbitrary: fc.constantFrom('\u00a0', '\r', '\u2028', '\v', '\f', '\ufeff'), weight: 1})
    const value = fc.oneof({arbitrary: fc.constantFrom('1', '0', '32768\t60999', ' 1024   65535 ', 'a=b', '6.18.44-fc', ''), weight: 6}, {arbitrary: fc.constantFrom('x\ry', '\u00a0 2', 'v\rnet.ipv4.tcp_tw_reuse=7', 'v\u2028net.ipv4.tcp_timestamps = 0'), weight: 1})
    const sep = fc.constantFrom('=', ' = ', '\t=\t', ' =', '= ', '  =  ')
    const line = fc.oneof(
      {arbitrary: fc.tuple(blank, key, sep, value).map(([b, k, s, v]) => `${b}${k}${s}${v}`), weight: 8},
      {arbitrary: fc.tuple(blank, fc.constantFrom('# c', '; c', 'sysctl: permission denied on key "x"')).map(([b, c]) => `${b}${c}`), weight: 2},
      {arbitrary: blank, weight: 2},
      {arbitrary: fc.constantFrom('garbage', '= 5', 'a b = c', 'ключ = 1', 'x.y'), weight: 1},
    )
    const dump = fc.tuple(fc.array(line, {maxLength: 12}), fc.constantFrom('\n', '\r\n'), fc.boolean())
      .map(([lines, eol, trailing]) => lines.join(eol) + (trailing ? eol : ''))
    fc.assert(
      fc.property(dump, (text) => {
        expect(withKeep(text)).toEqual(reference(text))
      }),
      {numRuns: 3000},
    )
  })
})
