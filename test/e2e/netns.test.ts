import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {rootSuite} from '../root.js'
import {assertBuilt, EXAMPLE_TOPOLOGY, type JsonReport, run} from './helpers.js'

/**
 * `check --netns` against a real network namespace whose sysctls this test sets. Needs root and
 * iproute2 (CI runs as root). The namespace is deleted in afterAll, and also when setup fails.
 */
const NS = `twtest-${process.pid}`

function ip(args: string[]): {code: number | null; stdout: string; stderr: string} {
  const r = spawnSync('ip', args, {encoding: 'utf8', timeout: 15_000})
  if (r.error) throw r.error
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

function nsSysctl(key: string, value: string): void {
  const r = ip(['netns', 'exec', NS, 'sysctl', '-w', `${key}=${value}`])
  if (r.code !== 0) throw new Error(`sysctl -w ${key}=${value} in ${NS} failed: ${r.stderr}`)
}

function deleteNs(): void {
  if (ip(['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === NS)) ip(['netns', 'delete', NS])
}

function hostSysctl(key: string): string {
  return readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim().split(/\s+/).join(' ')
}

let tmp: string
let topology: string

rootSuite('check --netns against a real network namespace', 'network namespaces', () => {
  beforeAll(() => {
    assertBuilt()
    tmp = mkdtempSync(join(tmpdir(), 'tw-netns-'))
    deleteNs()
    // Belt and braces: if the worker exits without running afterAll, the namespace still goes.
    process.once('exit', deleteNs)
    const add = ip(['netns', 'add', NS])
    if (add.code !== 0) throw new Error(`ip netns add ${NS} failed: ${add.stderr}`)
    try {
      // A narrow 1,000-port range, no tw_reuse, and values the host does not have, so the test
      // can tell the namespace's facts from the host's.
      nsSysctl('net.ipv4.ip_local_port_range', '40000 40999')
      nsSysctl('net.ipv4.tcp_tw_reuse', '0')
      nsSysctl('net.ipv4.tcp_max_tw_buckets', '5000')
      nsSysctl('net.ipv4.tcp_rfc1337', '1')
    } catch (error) {
      deleteNs()
      throw error
    }
    // 100 conn/s to one destination, the client closing first: 100 × 60 = 6,000 > 1,000 ports.
    topology = join(tmp, 'client.yaml')
    writeFileSync(
      topology,
      [
        'host: ns-client',
        'flows:',
        '  - name: to-cache',
        '    role: client',
        '    peer: 198.18.0.2:11211',
        '    qps: 100',
        '    closes_first: client',
        '',
      ].join('\n'),
    )
  })

  afterAll(() => {
    deleteNs()
    if (tmp) rmSync(tmp, {recursive: true, force: true})
  })

  it('the namespace really differs from the host (so the assertions below can tell them apart)', () => {
    expect(ip(['netns', 'exec', NS, 'sysctl', '-n', 'net.ipv4.ip_local_port_range']).stdout.trim().split(/\s+/)).toEqual(['40000', '40999'])
    expect(hostSysctl('net.ipv4.ip_local_port_range')).not.toBe('40000 40999')
  })

  it('finds the client port exhaustion with the numbers of the namespace range (1,000 ports / 60 s)', () => {
    const r = run(['check', '--netns', NS, '-t', topology, '--format', 'json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(2)
    const report = JSON.parse(r.stdout) as JsonReport
    const h = report.hosts[0]!
    expect(h.source).toBe(`netns:${NS}`)
    // kernel.osrelease is the host's: one kernel for every namespace.
    expect(h.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim())
    const f = h.findings.find((x) => x.id === 'client-port-exhaustion' && x.flow === 'to-cache')
    expect(f, JSON.stringify(h.findings.map((x) => x.id))).toBeDefined()
    expect(f!.severity).toBe('critical')
    expect(f!.evidence.connectsBeforeFailure).toBe(1000)
    expect(f!.evidence.safeQps as number).toBeCloseTo(1000 / 60, 9)
    expect(f!.evidence.margin as number).toBeCloseTo(100 / (1000 / 60), 9)
    expect(f!.evidence.twReuse).toBe(0)
    expect(f!.message).toMatch(/1,000 usable source ports/)
  })

  it("reads the namespace's other sysctls too (tcp_rfc1337 = 1 is flagged there, not on the host)", () => {
    const ids = (JSON.parse(run(['check', '--netns', NS, '-t', topology, '--format', 'json']).stdout) as JsonReport).hosts[0]!.findings.map((x) => x.id)
    expect(ids).toContain('rfc1337-worsens-collisions')
    if (hostSysctl('net.ipv4.tcp_rfc1337') === '0') {
      const live = JSON.parse(run(['check', '-t', topology, '--format', 'json']).stdout) as JsonReport
      expect(live.hosts[0]!.findings.map((x) => x.id)).not.toContain('rfc1337-worsens-collisions')
    }
  })

  it('the same topology on the live host uses the host range, not the namespace one', () => {
    const live = JSON.parse(run(['check', '-t', topology, '--format', 'json']).stdout) as JsonReport
    expect(live.hosts[0]!.source).toBe('live')
    const [lo, hi] = hostSysctl('net.ipv4.ip_local_port_range').split(' ').map(Number)
    const f = live.hosts[0]!.findings.find((x) => x.id === 'client-port-exhaustion')
    if (f) expect(f.evidence.connectsBeforeFailure).toBe(hi! - lo! + 1)
    else expect((hi! - lo! + 1) / 60).toBeGreaterThanOrEqual(100)
  })

  it('the text report names the namespace as the source', () => {
    const r = run(['check', '--netns', NS, '-t', topology])
    expect(r.code).toBe(2)
    expect(r.stdout).toContain(`netns:${NS}`)
    expect(r.stdout).toContain('client-port-exhaustion')
  })

  it('a namespace that does not exist is exit 1 with one line saying so', () => {
    const r = run(['check', '--netns', `${NS}-missing`, '-t', topology])
    expect(r.code).toBe(1)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(`${NS}-missing`)
    expect(r.stderr).not.toMatch(/^\s+at /m)
  })
})

describe('--netns with a hostile name: refused before any process starts', () => {
  const marker = join(tmpdir(), `tw-netns-injected-${process.pid}`)
  const names = [`a;touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `a && touch ${marker}`, 'a;rm -rf /', '../../etc', 'a b', 'x/y', '..', 'n'.repeat(65)]

  beforeAll(() => {
    assertBuilt()
    rmSync(marker, {force: true})
  })
  afterAll(() => rmSync(marker, {force: true}))

  for (const name of names) {
    it(`--netns ${JSON.stringify(name)} is exit 1 "not a valid network namespace name", nothing executed`, () => {
      // --netns=NAME so a name starting with "-" still reaches the validation as a value.
      const r = run(['check', `--netns=${name}`, '-t', EXAMPLE_TOPOLOGY])
      expect(r.code).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toContain('not a valid network namespace name')
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(existsSync(marker)).toBe(false)
    })
  }
})
