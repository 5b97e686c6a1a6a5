import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {applyJoin, joinFleet} from '../../src/discover/fleet.js'
import type {Topology} from '../../src/topology/types.js'
import {FIXTURES, run} from '../e2e/helpers.js'
import {makeFlow} from '../flow.js'

const topo = (flows: Topology['flows']): Topology => ({file: 'x', waivers: [], flows})

describe('joining a fleet\'s flows', () => {
  const php = topo([makeFlow({name: 'api-to-php', role: 'server', peer: '10.0.1.10:80', qps: 600, client_addresses: 1})])
  const api = (n: number) => ({label: `api-${n}`, topology: topo([makeFlow({name: 'to-php', role: 'client', peer: '10.0.1.10:80', qps: 75})])})

  it('more clients toward a listener than it sees addresses: the gap is NAT, senders become the fleet\'s count', () => {
    const j = joinFleet([{label: 'php-01', topology: php}, ...[1, 2, 3].map(api)])
    expect(j['php-01']!['api-to-php']!.senders).toBe(3)
    expect(j['php-01']!['api-to-php']!.note).toBe(
      'flow api-to-php: the fleet holds 3 client source address(es) toward 10.0.1.10:80 (api-1, api-2, api-3) but php-01 sees 1: the gap is NAT or a proxy; senders taken as 3',
    )
    const applied = applyJoin(php, j['php-01'])
    expect(applied.topology.flows[0]!.senders).toBe(3)
    expect(php.flows[0]!.senders).toBe(1)
  })

  it('as many addresses as clients, or no client in the fleet: nothing added', () => {
    const seen3 = topo([makeFlow({name: 'api-to-php', role: 'server', peer: '10.0.1.10:80', client_addresses: 3})])
    expect(joinFleet([{label: 'php-01', topology: seen3}, ...[1, 2, 3].map(api)])).toEqual({})
    expect(joinFleet([{label: 'php-01', topology: php}])).toEqual({})
    expect(applyJoin(php, undefined)).toEqual({topology: php, notes: []})
  })
})

describe('check --hosts joins the hosts it reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-fleet-join-'))
  afterAll(() => rmSync(dir, {recursive: true}))
  const sysctl = readFileSync(join(FIXTURES, 'sysctl-6.18.44.txt'), 'utf8')
  const host = (name: string, yaml: string) => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'sysctl.txt'), sysctl)
    writeFileSync(join(dir, name, 'topology.yaml'), yaml)
  }
  host('php-01', `flows:\n  - {name: api-to-php, role: server, peer: "10.0.1.10:80", qps: 300, closes_first: server, client_addresses: 1}\n`)
  for (const n of [1, 2, 3, 4]) host(`api-${n}`, `flows:\n  - {name: to-php, role: client, peer: "10.0.1.10:80", qps: 75, closes_first: server}\n`)

  it('the server behind NAT gets the shared-address finding and the report says why', () => {
    const r = run(['check', '--hosts', dir, '--format', 'json'])
    const php = JSON.parse(r.stdout).hosts.find((h: {host: string}) => h.host === 'php-01')
    expect(php.notes).toEqual([expect.stringMatching(/^flow api-to-php: the fleet holds 4 client source address\(es\) toward 10\.0\.1\.10:80 .* the gap is NAT or a proxy/)])
    expect(php.findings.map((f: {id: string}) => f.id)).toContain('server-tw-collision-shared')
    const text = run(['check', '--hosts', dir]).stdout
    expect(text).toContain('fleet: flow api-to-php: the fleet holds 4 client source address(es)')
  })
})
