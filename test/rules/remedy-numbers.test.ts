// The sizes the README promises for the original incident (examples/incident: a 5.15 host,
// ip_local_port_range 32768 60999, 8 senders behind one SNAT address at 600 conn/s, its own
// clients closing first at 600 and 300 conn/s), each derived here by hand from the kernel facts
// and asserted as a number through the same call `check` makes. A change to the 10 % headroom,
// the collision budget or the per-sender rate shows up here as a wrong number, not as prose.
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {checkHosts} from '../../src/check.js'
import type {Finding, Remedy} from '../../src/rules/types.js'
import {readDumpFile} from '../../src/sources/dump.js'
import {loadTopologyFile} from '../../src/topology/load.js'
import {makeFlow} from '../flow.js'
import {parseKernel} from '../../src/facts/kernel.js'

const EXAMPLE = join(import.meta.dirname, '../../examples/incident')

async function incident(): Promise<Finding[]> {
  const facts = await readDumpFile(join(EXAMPLE, 'sysctl.txt'))
  const topology = await loadTopologyFile(join(EXAMPLE, 'topology.yaml'))
  return checkHosts([{facts, topology}]).report.hosts[0]!.findings
}

function finding(findings: Finding[], id: string, flow?: string): Finding {
  const f = findings.find((x) => x.id === id && (flow === undefined || x.flow === flow))
  if (!f) throw new Error(`no ${id} finding${flow ? ` for ${flow}` : ''}: ${findings.map((x) => `${x.id}/${x.flow}`).join(', ')}`)
  return f
}

function remedySetting(f: Finding, key: string): Remedy {
  const r = f.remedies.find((x) => key in (x.sysctl ?? {}) || key in (x.flow ?? {}))
  if (!r) throw new Error(`${f.id}: no remedy sets ${key}`)
  return r
}

// R = 60999 − 32768 + 1 = 28,232 usable ports (nothing reserved in the example).
const R = 28_232
const TIME_WAIT = 60

describe('the incident’s remedy sizes, derived by hand', () => {
  it('php-to-cache (client closes first, 600/s): safe 28,232 / 60 s = 470.5/s; keep-alive down to 427/s (470.5 less 10 %)', async () => {
    const f = finding(await incident(), 'client-port-exhaustion', 'php-to-cache')
    expect(f.evidence.safeQps).toBeCloseTo(R / TIME_WAIT, 6)
    expect(f.evidence.margin).toBeCloseTo(600 / (R / TIME_WAIT), 6)
    // 470.53 / 1.1 = 427.76, printed as a whole rate.
    expect(remedySetting(f, 'keepalive').flow).toEqual({keepalive: true, qps: 427})
  })

  it('php-to-cache: widen the range to 21400 60999 (600/s × 60 s × 1.1 = 39,600 ports, high end kept, low end even)', async () => {
    const f = finding(await incident(), 'client-port-exhaustion', 'php-to-cache')
    const r = remedySetting(f, 'net.ipv4.ip_local_port_range')
    // 60999 − 39600 + 1 = 21400 (already even, so the two parities stay equal).
    expect(r.sysctl).toEqual({'net.ipv4.ip_local_port_range': '21400 60999'})
    // After: 39,600 ports / 60 s = 660/s, margin 600 / 660 = 0.909.
    expect(r.after.safeQps).toBeCloseTo(660, 6)
    expect(r.after.margin).toBeCloseTo(600 / 660, 6)
  })

  it('php-to-cache: 2 source addresses or 2 server endpoints (ceil(1.275 × 1.1) = 2)', async () => {
    const f = finding(await incident(), 'client-port-exhaustion', 'php-to-cache')
    expect(remedySetting(f, 'client_addresses').flow).toEqual({client_addresses: 2, senders: 2})
    expect(remedySetting(f, 'server_endpoints').flow).toEqual({server_endpoints: 2})
  })

  it('php-to-db (300/s): the connect scan starts at 14,116 first-parity ports / 60 s = 235.3/s; keep-alive to 235/s', async () => {
    const f = finding(await incident(), 'client-connect-scan', 'php-to-db')
    expect(f.evidence.scanQps).toBeCloseTo(R / 2 / TIME_WAIT, 6)
    // The scan rule aims at the scan rate itself (no headroom: the scan only costs CPU).
    expect(remedySetting(f, 'keepalive').flow).toEqual({keepalive: true, qps: 235})
  })

  // The harm model (issue 10): 8 pods behind one fully-random SNAT address, a 5.15 client kernel
  // (timestamp offsets per host pair: a SYN from one of the 7 other pods is unrelated, 7/8), the
  // server keeps tcp_rfc1337=1. safeQps is where the stall share reaches the 0.1 % budget.
  it('api-to-php: 7 of 8 senders look unrelated; keep-alive down to int(safeQps / 1.1) and ceil(600 / safeQps × 1.1) NAT addresses', async () => {
    const f = finding(await incident(), 'server-tw-collision-shared', 'api-to-php')
    expect(f.evidence.unrelatedShare).toBeCloseTo(7 / 8, 12)
    expect(f.evidence.stallShare as number).toBeGreaterThan(f.evidence.harmBudget as number)
    const safe = f.evidence.safeQps as number
    expect(f.evidence.margin).toBeCloseTo(600 / safe, 6)
    expect(remedySetting(f, 'keepalive').flow).toEqual({keepalive: true, qps: Math.floor(safe / 1.1)})
    expect(remedySetting(f, 'client_addresses').flow).toEqual({client_addresses: Math.ceil((600 / safe) * 1.1), senders: 8})
  })

  it('api-to-php: tcp_max_tw_buckets is the largest cap within the budget; the cap bounds the collision share at cap / 28,232', async () => {
    const f = finding(await incident(), 'server-tw-collision-shared', 'api-to-php')
    const r = remedySetting(f, 'net.ipv4.tcp_max_tw_buckets')
    const cap = Number(r.sysctl!['net.ipv4.tcp_max_tw_buckets'])
    // cap of the pool's 28,232 tuples can be in TIME_WAIT: a reused tuple finds one cap / 28,232 of the time.
    expect(r.after.collisionShare).toBeCloseTo(cap / R, 9)
    expect(r.after.stallShare as number).toBeLessThanOrEqual(0.001)
    // The largest such cap: one more entry would cross the budget (stall share ~ linear in the cap).
    expect((r.after.stallShare as number) * ((cap + 1) / cap)).toBeGreaterThan(0.001)
  })

  it('api-to-php: tcp_rfc1337=0 lowers the stall share (the client\'s RST clears the entry) but not under the budget', async () => {
    const f = finding(await incident(), 'rfc1337-nat-stalls', 'api-to-php')
    const r = remedySetting(f, 'net.ipv4.tcp_rfc1337')
    expect(r.after.stallShare as number).toBeLessThan(f.evidence.stallShare as number)
    expect(r.after.stallShare as number).toBeGreaterThan(0.001)
    // With rfc1337=1 a rejected SYN's client waits its retransmit; with 0 it resends at once.
    expect(f.evidence.mechanism).toBe('rfc1337-stuck')
    expect(r.after.mechanism).toBe('server-tw-reject')
  })
})

describe('defaults the kernel has when a dump lacks the key', () => {
  const base = {
    'kernel.osrelease': '6.8.0',
    'net.ipv4.ip_local_port_range': '32768 60999',
    'net.ipv4.tcp_tw_reuse': '1',
  }
  const topology = (qps: number) => ({file: 't.yaml', waivers: [], flows: [makeFlow({name: 'out', role: 'client', qps, closes_first: 'client'})]})
  const ids = (sysctls: Record<string, string>, qps: number) =>
    checkHosts([{facts: {source: 't', kernel: parseKernel('6.8.0'), sysctls, counters: {}}, topology: topology(qps)}]).report.hosts[0]!.findings.map(
      (f) => f.id,
    )

  it('tcp_timestamps absent means on (the kernel default 1): tcp_tw_reuse=1 works, 600/s does not run out of ports', () => {
    expect(ids(base, 600)).not.toContain('client-port-exhaustion')
    expect(ids(base, 600)).not.toContain('tw-reuse-needs-timestamps')
  })

  it('the same host with tcp_timestamps=0 written out does run out (the control)', () => {
    expect(ids({...base, 'net.ipv4.tcp_timestamps': '0'}, 600)).toContain('client-port-exhaustion')
  })
})
