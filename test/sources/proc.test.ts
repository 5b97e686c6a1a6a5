import {cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RELEVANT_KEYS} from '../../src/facts/keys.js'
import {readLiveFacts} from '../../src/sources/proc.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

/** A fake /proc: a 3.10-like host (tcp_tw_recycle present, no tcp_tw_reuse_delay), files as the kernel prints them. */
let root: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tw-proc-'))
  const put = (key: string, value: string) => {
    const file = join(root, 'sys', ...key.split('.'))
    mkdirSync(dirname(file), {recursive: true})
    writeFileSync(file, value)
  }
  put('kernel.osrelease', '3.10.0-1160.el7.x86_64\n')
  put('net.ipv4.ip_local_port_range', '32768\t60999\n')
  put('net.ipv4.ip_local_reserved_ports', '\n')
  put('net.ipv4.tcp_tw_reuse', '0\n')
  put('net.ipv4.tcp_tw_recycle', '1\n')
  put('net.ipv4.tcp_timestamps', '1\n')
  put('net.ipv4.tcp_max_tw_buckets', '262144\n')
  // A key we do not read must not end up in the facts.
  put('net.ipv4.tcp_syncookies', '1\n')
  mkdirSync(join(root, 'net'), {recursive: true})
  cpSync(join(FIXTURES, 'netstat-6.18.44.txt'), join(root, 'net', 'netstat'))
  cpSync(join(FIXTURES, 'snmp-6.18.44.txt'), join(root, 'net', 'snmp'))
  writeFileSync(join(root, 'net', 'sockstat'), 'sockets: used 12\nTCP: inuse 1 orphan 0 tw 4711 alloc 1 mem 0\n')
})
afterAll(() => rmSync(root, {recursive: true, force: true}))

describe('readLiveFacts: /proc/sys read directly, one file per relevant key', () => {
  it('reads the relevant keys, normalising the tab in ip_local_port_range', async () => {
    const f = await readLiveFacts(root)
    expect(f.source).toBe('live')
    expect(f.sysctls['net.ipv4.ip_local_port_range']).toBe('32768 60999')
    expect(f.sysctls['net.ipv4.tcp_tw_recycle']).toBe('1')
    expect(f.sysctls['net.ipv4.ip_local_reserved_ports']).toBe('')
    expect(f.kernel).toMatchObject({major: 3, minor: 10, patch: 0})
  })

  it('leaves keys this kernel lacks absent (tcp_tw_reuse_delay, tcp_tw_timeout), not empty', async () => {
    const f = await readLiveFacts(root)
    expect('net.ipv4.tcp_tw_reuse_delay' in f.sysctls).toBe(false)
    expect('net.ipv4.tcp_tw_timeout' in f.sysctls).toBe(false)
    expect('net.netfilter.nf_conntrack_max' in f.sysctls).toBe(false)
  })

  it('reads only RELEVANT_KEYS (an unrelated key on disk is not in the facts)', async () => {
    const f = await readLiveFacts(root)
    expect(Object.keys(f.sysctls).every((k) => (RELEVANT_KEYS as readonly string[]).includes(k))).toBe(true)
    expect(f.sysctls['net.ipv4.tcp_syncookies']).toBeUndefined()
  })

  it('reads TcpExt and Tcp counters and the TIME_WAIT count from sockstat', async () => {
    const f = await readLiveFacts(root)
    expect(f.counters.TcpExtTW).toBe(10)
    expect(f.counters.TcpActiveOpens).toBe(42)
    expect(f.timeWaitSockets).toBe(4711)
  })

  it('a root with nothing in it gives empty facts and a null kernel, not an error', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tw-proc-empty-'))
    try {
      const f = await readLiveFacts(empty)
      expect(f.sysctls).toEqual({})
      expect(f.kernel).toBeNull()
      expect(f.counters).toEqual({})
      expect(f.timeWaitSockets).toBeUndefined()
    } finally {
      rmSync(empty, {recursive: true, force: true})
    }
  })

  it('on this machine, reads the running kernel and its port range', async () => {
    const f = await readLiveFacts()
    expect(f.kernel).not.toBeNull()
    expect(f.sysctls['net.ipv4.ip_local_port_range']).toMatch(/^\d+ \d+$/)
  })
})
