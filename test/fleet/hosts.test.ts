import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {HostInput} from '../../src/check.js'
import {TwError} from '../../src/errors.js'
import {checkFleet} from '../../src/fleet.js'
import {RELEVANT_COUNTERS, RELEVANT_KEYS} from '../../src/facts/keys.js'
import {parseProcNet} from '../../src/sources/counters.js'
import {readHostsDir, type HostReadError} from '../../src/sources/hosts.js'

const ROOT = resolve(import.meta.dirname, '../..')
const fixture = (name: string) => join(ROOT, 'test', 'fixtures', name)

const CLIENT_TOPOLOGY = `flows:
  - name: to-db
    role: client
    peer: 10.0.0.5:5432
    qps: 2000
    closes_first: client
`
const SERVER_TOPOLOGY = `host: web-02
flows:
  - name: api
    role: server
    peer: 10.0.0.9:443
    qps: 50
    closes_first: server
    keepalive: true
`

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'twadvisor-hosts-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function host(name: string, files: Record<string, string>): string {
  const folder = join(dir, name)
  mkdirSync(folder)
  for (const [file, text] of Object.entries(files)) writeFileSync(join(folder, file), text)
  return folder
}
const dump618 = () => readFileSync(fixture('sysctl-6.18.44.txt'), 'utf8')
const isError = (x: HostInput | HostReadError): x is HostReadError => 'error' in x

describe('readHostsDir: one folder per host', () => {
  it('reads every host, in name order, labelled by its folder', async () => {
    host('web-02', {'sysctl.txt': dump618(), 'topology.yaml': SERVER_TOPOLOGY})
    host('db-01', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    const hosts = await readHostsDir(dir)
    expect(hosts.map((h) => h.label)).toEqual(['db-01', 'web-02'])
    const [db] = hosts as HostInput[]
    expect(db!.facts.kernel?.raw).toBe('6.18.44-fc-v669')
    expect(db!.facts.sysctls['net.ipv4.ip_local_port_range']).toBe('32768 60999')
    expect(db!.facts.source).toBe(join(dir, 'db-01', 'sysctl.txt'))
    expect(db!.topology.file).toBe(join(dir, 'db-01', 'topology.yaml'))
    expect(db!.topology.flows[0]!.qps).toBe(2000)
  })

  it('merges the counters twadvisor reads from /proc/net/netstat and /proc/net/snmp, and takes tw from sockstat', async () => {
    host('db-01', {
      'sysctl.txt': dump618(),
      'topology.yaml': CLIENT_TOPOLOGY,
      'netstat.txt': readFileSync(fixture('netstat-6.18.44.txt'), 'utf8'),
      'snmp.txt': readFileSync(fixture('snmp-6.18.44.txt'), 'utf8'),
      'sockstat.txt': 'sockets: used 12\nTCP: inuse 1 orphan 0 tw 3456 alloc 1 mem 0\n',
    })
    host('no-counters', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    const [db, bare] = (await readHostsDir(dir)) as HostInput[]
    // TcpExt from netstat, Tcp from snmp, side by side.
    expect(db!.facts.counters).toMatchObject({TcpExtTW: 10, TcpExtTWRecycled: 0})
    expect(db!.facts.counters.TcpActiveOpens).toBeGreaterThan(0)
    // Only RELEVANT_COUNTERS are kept (the file has ~300): IpExt and the rest are read past.
    expect(db!.facts.counters.IpExtInOctets).toBeUndefined()
    expect(Object.keys(db!.facts.counters).sort()).toEqual(RELEVANT_COUNTERS.filter((k) => k in parseProcNet(readFileSync(fixture('netstat-6.18.44.txt'), 'utf8') + readFileSync(fixture('snmp-6.18.44.txt'), 'utf8'))).sort())
    expect(db!.facts.timeWaitSockets).toBe(3456)
    expect(bare!.facts.counters).toEqual({})
    expect(bare!.facts.timeWaitSockets).toBeUndefined()
  })

  it('reports a broken host with its file and line, and reads the others', async () => {
    host('a-good', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    host('b-bad-yaml', {'sysctl.txt': dump618(), 'topology.yaml': 'flows:\n  - name: x\n    qps: [1\n'})
    host('c-bad-dump', {'sysctl.txt': 'net.ipv4.tcp_tw_reuse = 2\nthis is not a sysctl line\n', 'topology.yaml': CLIENT_TOPOLOGY})
    host('d-no-dump', {'topology.yaml': CLIENT_TOPOLOGY})
    host('e-bad-field', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY.replace('qps: 2000', 'qps: many')})
    host('f-good', {'sysctl.txt': dump618(), 'topology.yaml': SERVER_TOPOLOGY})
    const hosts = await readHostsDir(dir)
    expect(hosts.map((h) => [h.label, isError(h)])).toEqual([
      ['a-good', false],
      ['b-bad-yaml', true],
      ['c-bad-dump', true],
      ['d-no-dump', true],
      ['e-bad-field', true],
      ['f-good', false],
    ])
    const err = (label: string) => (hosts.find((h) => h.label === label) as HostReadError).error
    const yaml = join(dir, 'b-bad-yaml', 'topology.yaml')
    expect(err('b-bad-yaml').code).toBe('topology.yaml')
    expect(err('b-bad-yaml').message).toMatch(new RegExp(`^${yaml}:\\d+:\\d+: `))
    expect((hosts[1] as HostReadError).source).toBe(yaml)
    expect(err('c-bad-dump')).toEqual({
      code: 'dump.syntax',
      message: expect.stringMatching(new RegExp(`^${join(dir, 'c-bad-dump', 'sysctl.txt')}:2:1: expected "key = value"`)),
    })
    expect(err('d-no-dump')).toMatchObject({code: 'host.file', message: expect.stringMatching(/d-no-dump\/sysctl\.txt: missing/)})
    // A schema error points at the line of the offending field.
    expect(err('e-bad-field').message).toMatch(new RegExp(`^${join(dir, 'e-bad-field', 'topology.yaml')}:5:\\d+: `))
  })

  it('keeps the sysctls a live read keeps (RELEVANT_KEYS), after validating every line', async () => {
    host('db-01', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    const [db] = (await readHostsDir(dir)) as HostInput[]
    expect(Object.keys(db!.facts.sysctls).sort()).toEqual([...RELEVANT_KEYS].filter((k) => dump618().includes(`${k} =`)).sort())
  })

  it('skips hidden entries and plain files; says so when no host folder is left', async () => {
    mkdirSync(join(dir, '.git'))
    writeFileSync(join(dir, 'README'), 'not a host')
    await expect(readHostsDir(dir)).rejects.toMatchObject({code: 'hosts.empty'})
    host('only', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    expect((await readHostsDir(dir)).map((h) => h.label)).toEqual(['only'])
  })

  it('a missing directory is bad input for the whole run (a TwError naming it)', async () => {
    const missing = join(dir, 'nope')
    const error = await readHostsDir(missing).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TwError)
    expect((error as TwError).oneLine()).toMatch(new RegExp(`^${missing}: cannot read hosts directory: ENOENT`))
  })
})

describe('checkFleet: every host read and evaluated, in worker threads for a large fleet', () => {
  const WAIVES_NO_RULE = CLIENT_TOPOLOGY + 'waivers:\n  - id: no-such-rule\n    reason: typo\n'

  it('gives the same report in worker threads as inline, hosts in name order, unreadable ones last', async () => {
    for (let i = 0; i < 7; i++) {
      const topology = i === 3 ? 'flows: [\n' : i === 5 ? WAIVES_NO_RULE : i % 2 ? SERVER_TOPOLOGY.replace('web-02', `web-${i}`) : CLIENT_TOPOLOGY
      host(`h${i}`, {'sysctl.txt': dump618(), 'topology.yaml': topology})
    }
    const inline = await checkFleet(dir, {workers: 0})
    const progress: number[] = []
    const threaded = await checkFleet(dir, {workers: 3, onProgress: (done) => progress.push(done)})
    expect([inline.workers, threaded.workers]).toEqual([0, 3])
    expect({report: threaded.report, locations: threaded.locations}).toEqual({report: inline.report, locations: inline.locations})
    // h3 could not be read: listed after the evaluated hosts. h5 was read, but its waiver names no
    // rule: an error in its place.
    expect(threaded.report.hosts.map((h) => [h.host, h.error?.code ?? null])).toEqual([
      ['h0', null],
      ['web-1', null],
      ['h2', null],
      ['h4', null],
      ['h5', 'waiver.unknown-rule'],
      ['h6', null],
      ['h3', 'topology.yaml'],
    ])
    expect(threaded.report.hosts[0]!.findings.map((f) => f.id)).toContain('client-port-exhaustion')
    // check's output has no model internals; `twadvisor model` prints those.
    expect(threaded.report.hosts.every((h) => h.model === undefined)).toBe(true)
    expect(threaded.locations.map((l) => l.host)).toEqual(['h0', 'web-1', 'h2', 'h4', 'h5', 'h6'])
    expect(threaded.locations[0]).toEqual({host: 'h0', file: join(dir, 'h0', 'topology.yaml'), flowLines: {'to-db': 2}})
    expect(progress.at(-1)).toBe(7)
  })

  it('a --waive naming no rule is bad input for the whole run, before any host is read', async () => {
    host('a', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    await expect(checkFleet(dir, {waive: ['client-port-exhaustin']})).rejects.toMatchObject({code: 'waiver.unknown-rule', hint: 'did you mean "client-port-exhaustion"?'})
  })
})

describe('check --hosts DIR (the built CLI, as the Ansible role runs it)', () => {
  const cli = (args: string[]): {code: number; stdout: string} => {
    try {
      return {code: 0, stdout: execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})}
    } catch (error) {
      const e = error as {status: number; stdout: string}
      return {code: e.status, stdout: e.stdout}
    }
  }

  it('prints every host in the JSON shape; a broken host is an error for that host only', () => {
    host('db-01', {'sysctl.txt': dump618(), 'topology.yaml': CLIENT_TOPOLOGY})
    host('web-02', {'sysctl.txt': dump618(), 'topology.yaml': SERVER_TOPOLOGY})
    host('zz-broken', {'sysctl.txt': dump618(), 'topology.yaml': 'flows: [\n'})
    copyFileSync(fixture('sysctl-3.10-tw-recycle.txt'), join(host('old-310', {'topology.yaml': CLIENT_TOPOLOGY}), 'sysctl.txt'))
    const {code, stdout} = cli(['check', '--hosts', dir, '--format', 'json'])
    const report = JSON.parse(stdout) as {hosts: {host: string; kernel: string | null; findings: {id: string; severity: string}[]; error?: {code: string; message: string}}[]; summary: Record<string, number>}
    expect(code).toBe(2)
    expect(report.hosts.map((h) => h.host)).toEqual(['db-01', 'old-310', 'web-02', 'zz-broken'])
    const by = Object.fromEntries(report.hosts.map((h) => [h.host, h]))
    expect(by['db-01']!.findings.map((f) => `${f.severity}:${f.id}`)).toContain('critical:client-port-exhaustion')
    expect(by['old-310']!.kernel).toMatch(/^3\.10\./)
    expect(by['old-310']!.findings.map((f) => f.id)).toContain('tw-recycle-enabled')
    expect(by['web-02']!.findings.filter((f) => f.severity !== 'info')).toEqual([])
    expect(by['zz-broken']).not.toHaveProperty('findings')
    expect(by['zz-broken']).toMatchObject({kernel: null, error: {code: 'topology.yaml', message: expect.stringMatching(/zz-broken\/topology\.yaml:\d+:\d+: /)}})
    expect(report.summary.critical).toBeGreaterThan(0)
  })

  it('exits 1 when the only problem is a host it could not read', () => {
    host('web-02', {'sysctl.txt': dump618(), 'topology.yaml': SERVER_TOPOLOGY})
    host('broken', {'topology.yaml': SERVER_TOPOLOGY})
    const {code, stdout} = cli(['check', '--hosts', dir, '--format', 'json'])
    expect(code).toBe(1)
    const hosts = (JSON.parse(stdout) as {hosts: {host: string; error?: unknown}[]}).hosts
    expect(Object.fromEntries(hosts.map((h) => [h.host, h.error !== undefined]))).toEqual({broken: true, 'web-02': false})
  })
})
