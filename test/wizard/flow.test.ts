// The question flow with the prompts injected: which questions each symptom leads to, answers
// refused and re-asked with the reason, the NAT branch, several flows, and the saved files.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadTopologyFile} from '../../src/topology/load.js'
import {askTopology, runWizard, type WizardIO} from '../../src/wizard/flow.js'
import {summarizeHost} from '../../src/wizard/host.js'
import {roundTrip, topologyYaml, writePending} from '../../src/wizard/save.js'
import {fixtureFacts, scratchDir, scripted, type Answer} from './helpers.js'

function io(script: Record<string, Answer>, opts: {throwAt?: string} = {}) {
  const prompts = scripted(script, opts)
  const lines: string[] = []
  const wio: WizardIO = {prompts, print: (l) => lines.push(l)}
  return {prompts, lines, wio, text: () => lines.join('\n')}
}

async function topologyFor(script: Record<string, Answer>, facts = fixtureFacts()) {
  const t = io(script)
  const out = await askTopology(t.wio, {facts}, summarizeHost(facts))
  return {...out, ...t}
}

describe('symptom first', () => {
  it('"Cannot assign requested address" starts from the client that closes first and skips the server-side questions', async () => {
    const r = await topologyFor({symptom: 'eaddrnotavail', 'flows.0.peer': '10.0.2.20:11211', 'flows.0.qps': '600'})
    const flow = r.topology.flows[0]!
    expect(flow).toMatchObject({role: 'client', closes_first: 'client', keepalive: false, peer: '10.0.2.20:11211', qps: 600, name: 'to-10.0.2.20-11211'})
    expect(flow.nat).toBeUndefined()
    const ids = r.prompts.ids()
    expect(ids).not.toContain('flows.0.senders')
    expect(ids).not.toContain('flows.0.client_port_range')
    expect(r.prompts.asked.find((a) => a.id === 'flows.0.nat')?.default).toBe(false)
    expect(r.text()).toContain('EADDRNOTAVAIL')
  })

  it('resets start from the server, assume SNAT in front and ask for the NAT pool and the senders', async () => {
    const r = await topologyFor({symptom: 'resets', 'flows.0.peer': '10.0.1.10:80', 'flows.0.qps': '600', 'flows.0.senders': '8'})
    const flow = r.topology.flows[0]!
    expect(flow).toMatchObject({role: 'server', closes_first: 'server', senders: 8, client_addresses: 1, nat: {port_range: [32768, 60999], conntrack_time_wait: 120}})
    expect(r.prompts.ids()).toEqual(
      expect.arrayContaining(['flows.0.nat', 'flows.0.nat.port_range', 'flows.0.nat.conntrack_time_wait', 'flows.0.senders']),
    )
    // With SNAT in front the clients' own range does not reach the server.
    expect(r.prompts.ids()).not.toContain('flows.0.client_port_range')
  })

  it('every question shows a hint of one line that fits a terminal', async () => {
    for (const role of ['client', 'server', 'nat']) {
      const r = await topologyFor({symptom: 'planning', 'flows.0.role': role, 'flows.0.peer': '10.0.1.10:80', 'flows.0.nat': true})
      const bad = r.prompts.asked.filter((a) => !a.hint || a.hint.includes('\n') || a.hint.length > 118)
      expect(bad).toEqual([])
    }
  })
})

describe('validation re-asks with the reason', () => {
  it('refuses a peer without port, a host name, bare IPv6 and a bad port, then takes ip:port', async () => {
    const r = await topologyFor({
      symptom: 'eaddrnotavail',
      'flows.0.peer': ['10.0.1.10', 'db.internal:5432', '2001:db8::1:443', '10.0.1.10:70000', '[2001:db8::1]:443'],
    })
    expect(r.topology.flows[0]!.peer).toBe('[2001:db8::1]:443')
    const reasons = r.prompts.refused.map((x) => x.reason)
    expect(reasons[0]).toMatch(/not ip:port/)
    expect(reasons[1]).toMatch(/not an IP address/)
    expect(reasons[2]).toMatch(/IPv6 address in brackets/)
    expect(reasons[3]).toMatch(/port 1-65535/)
  })

  it('refuses zero, negative and non-numeric rates, and senders fewer than the addresses', async () => {
    const r = await topologyFor({
      symptom: 'stalls',
      'flows.0.peer': '10.0.1.10:80',
      'flows.0.qps': ['0', '-5', 'lots', '1,200'],
      'flows.0.client_addresses': ['0', '2.5', '3'],
      'flows.0.senders': ['2', '12'],
      'flows.0.nat.port_range': ['60999-32768', '1000 70000', '32768 60999'],
      'flows.0.nat.conntrack_time_wait': ['0', '60'],
    })
    const f = r.topology.flows[0]!
    expect(f).toMatchObject({qps: 1200, client_addresses: 3, senders: 12, nat: {port_range: [32768, 60999], conntrack_time_wait: 60}})
    const by = (id: string) => r.prompts.refused.filter((x) => x.id === id).map((x) => x.reason)
    expect(by('flows.0.qps')).toEqual([expect.stringMatching(/above 0/), expect.stringMatching(/above 0/), expect.stringMatching(/type a number/)])
    expect(by('flows.0.client_addresses')).toEqual([expect.stringMatching(/at least 1/), expect.stringMatching(/whole number/)])
    expect(by('flows.0.senders')).toEqual([expect.stringMatching(/at least 3/)])
    expect(by('flows.0.nat.port_range')).toEqual([expect.stringMatching(/low end \(60999\) is above/), expect.stringMatching(/1 to 65535/)])
    expect(by('flows.0.nat.conntrack_time_wait')).toHaveLength(1)
  })
})

describe('NAT branch', () => {
  it('on the NAT host itself there is no "through SNAT?" question and conntrack defaults to this host\'s value', async () => {
    const facts = fixtureFacts({'net.netfilter.nf_conntrack_tcp_timeout_time_wait': '30'})
    const r = await topologyFor({symptom: 'planning', 'flows.0.role': 'nat', 'flows.0.peer': '10.0.1.10:80', 'flows.0.senders': '40'}, facts)
    expect(r.prompts.ids()).not.toContain('flows.0.nat')
    expect(r.topology.flows[0]).toMatchObject({role: 'nat', name: 'via-10.0.1.10-80', senders: 40, nat: {conntrack_time_wait: 30}})
  })

  it('a server without NAT asks for the clients\' port range, and empty means unknown', async () => {
    const a = await topologyFor({symptom: 'planning', 'flows.0.role': 'server', 'flows.0.peer': '10.0.1.10:80'})
    expect(a.topology.flows[0]!.client_port_range).toBeUndefined()
    expect(a.topology.flows[0]!.nat).toBeUndefined()
    const b = await topologyFor({symptom: 'planning', 'flows.0.role': 'server', 'flows.0.peer': '10.0.1.10:80', 'flows.0.client_port_range': '[1024, 65535]'})
    expect(b.topology.flows[0]!.client_port_range).toEqual([1024, 65535])
  })
})

describe('several flows', () => {
  it('asks "add another flow?" after each and refuses a name already taken', async () => {
    const r = await topologyFor({
      symptom: 'resets',
      host: 'php-01',
      'flows.0.peer': '10.0.1.10:80',
      'flows.0.name': 'api-to-php',
      'flows.0.another': true,
      'flows.1.role': 'client',
      'flows.1.peer': '10.0.2.20:11211',
      'flows.1.name': ['api-to-php', 'bad name', 'php-to-cache'],
      'flows.1.closes_first': 'client',
      'flows.1.another': false,
    })
    expect(r.topology.host).toBe('php-01')
    expect(r.topology.flows.map((f) => [f.name, f.role, f.closes_first])).toEqual([
      ['api-to-php', 'server', 'server'],
      ['php-to-cache', 'client', 'client'],
    ])
    expect(r.prompts.refused.map((x) => x.reason)).toEqual([expect.stringMatching(/already used/), expect.stringMatching(/letters, digits/)])
    // A client under the "resets" symptom is not assumed to sit behind SNAT.
    expect(r.topology.flows[1]!.nat).toBeUndefined()
  })
})

describe('the end: findings, then the files', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => ({dir, cleanup} = scratchDir()))
  afterEach(() => cleanup())

  const incident = (extra: Record<string, Answer> = {}): Record<string, Answer> => ({
    symptom: 'resets',
    host: 'php-01',
    'flows.0.peer': '10.0.1.10:80',
    'flows.0.name': 'api-to-php',
    'flows.0.qps': '600',
    'flows.0.senders': '8',
    'flows.0.another': true,
    'flows.1.role': 'client',
    'flows.1.peer': '10.0.2.20:11211',
    'flows.1.name': 'php-to-cache',
    'flows.1.qps': '600',
    'flows.1.closes_first': 'client',
    ...extra,
  })

  it('prints check\'s findings, saves a topology that `check -t` loads unchanged, and a sysctl.d file after showing the diff', async () => {
    const topo = join(dir, 'topology.yaml')
    const conf = join(dir, '60-twadvisor.conf')
    const t = io(incident({topology_file: topo, sysctl_file: conf}))
    const r = await runWizard(t.wio, {facts: fixtureFacts()})
    expect(r.exitCode).toBe(2)
    expect(t.text()).toContain('server-tw-collision-shared · flow api-to-php')
    expect(t.text()).toContain('client-port-exhaustion · flow php-to-cache')
    expect(t.text()).toContain('exit 2 (fail-on critical)')
    expect(t.text()).toContain(`+++ ${conf}`)
    expect(r.written.map((w) => w.path)).toEqual([topo, conf])
    const back = await loadTopologyFile(topo)
    expect(back.flows).toEqual(r.topology.flows)
    expect(back.host).toBe('php-01')
    expect(readFileSync(conf, 'utf8')).toMatch(/^# Generated by twadvisor/)
    expect(readFileSync(conf, 'utf8')).toContain('net.ipv4.tcp_max_tw_buckets = ')
    expect(readFileSync(conf, 'utf8')).toContain(`topology ${topo}`)

    // The same answers again: both files are current, nothing is offered for writing.
    const again = io(incident({topology_file: topo, sysctl_file: conf}))
    const r2 = await runWizard(again.wio, {facts: fixtureFacts()})
    expect(r2.written).toEqual([])
    expect(again.text()).toContain('already holds these flows')
    expect(again.text()).toContain('is current; nothing to write')
    expect(again.prompts.ids()).not.toContain('sysctl_confirm')
  })

  it('refuses a path over a file twadvisor did not write, and re-asks', async () => {
    const foreign = join(dir, 'mine.yaml')
    writeFileSync(foreign, 'flows: []\n')
    const topo = join(dir, 'topology.yaml')
    const t = io(incident({topology_file: [foreign, join(dir, 'missing', 'x.yaml'), topo], write_sysctl: false}))
    await runWizard(t.wio, {facts: fixtureFacts()})
    expect(t.prompts.refused.map((x) => x.reason)).toEqual([expect.stringMatching(/was not written by twadvisor/), expect.stringMatching(/does not exist/)])
    expect(readFileSync(foreign, 'utf8')).toBe('flows: []\n')
    expect(existsSync(topo)).toBe(true)
  })

  it('shows the diff before replacing a topology an earlier run wrote, and refuses the same path for both files', async () => {
    const topo = join(dir, 'topology.yaml')
    await runWizard(io(incident({topology_file: topo, write_sysctl: false})).wio, {facts: fixtureFacts()})
    const t = io(incident({'flows.0.qps': '900', topology_file: topo, sysctl_file: [topo, join(dir, '60.conf')]}))
    const r = await runWizard(t.wio, {facts: fixtureFacts()})
    expect(t.text()).toContain('-    qps: 600\n+    qps: 900')
    expect(t.prompts.ids()).toContain('topology_replace')
    expect(t.prompts.refused).toEqual([expect.objectContaining({id: 'sysctl_file', reason: expect.stringMatching(/where the topology file goes/)})])
    expect(r.written.map((w) => w.message)).toEqual([expect.stringMatching(/^updated .*topology\.yaml \(topology\)/), expect.stringMatching(/^wrote .*60\.conf \(sysctl\.d, \d keys?\)/)])
    expect((await loadTopologyFile(topo)).flows[0]!.qps).toBe(900)
  })

  it('Ctrl-C while files are being written finishes the file in hand and writes no more', async () => {
    const a = join(dir, 'a.yaml')
    const b = join(dir, 'b.conf')
    const listeners = process.listenerCount('SIGINT')
    const writing = writePending([
      {kind: 'topology', path: a, text: '# Generated by twadvisor test\nflows: []\n'},
      {kind: 'sysctl.d', path: b, text: '# Generated by twadvisor test\n', keys: 0},
    ])
    process.emit('SIGINT')
    const r = await writing
    expect(r.interrupted).toBe(true)
    expect(r.written.map((w) => w.path)).toEqual([a])
    expect(readdirSync(dir)).toEqual(['a.yaml'])
    expect(process.listenerCount('SIGINT')).toBe(listeners)
  })

  it('writes nothing when Ctrl-C comes at the last question', async () => {
    const t = io(incident({topology_file: join(dir, 'topology.yaml'), sysctl_file: join(dir, '60.conf')}), {throwAt: 'sysctl_confirm'})
    await expect(runWizard(t.wio, {facts: fixtureFacts()})).rejects.toMatchObject({name: 'ExitPromptError'})
    expect(readdirSync(dir)).toEqual([])
  })

  it('declining both offers writes nothing and still reports the findings\' exit code', async () => {
    const t = io(incident({save_topology: false, write_sysctl: false}))
    const r = await runWizard(t.wio, {facts: fixtureFacts()})
    expect(r.written).toEqual([])
    expect(r.exitCode).toBe(2)
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('the topology file', () => {
  it('round-trips an IPv6 peer, a declared client range and a NAT through the loader check uses', () => {
    const topology = {
      file: '(wizard)',
      host: 'edge 1',
      waivers: [],
      flows: [
        {name: 'v6', role: 'server' as const, peer: '[2001:db8::1]:443', qps: 0.5, closes_first: 'server' as const, keepalive: true, client_addresses: 2, senders: 3, server_endpoints: 4, client_port_range: [1024, 65535] as [number, number]},
        {name: 'nat', role: 'nat' as const, peer: '10.0.1.10:80', qps: 1e4, closes_first: 'client' as const, keepalive: false, client_addresses: 1, senders: 1, server_endpoints: 1, nat: {port_range: [1024, 65535] as [number, number], conntrack_time_wait: 30, port_mode: 'fully-random' as const, kernel: '6.1'}},
      ],
    }
    const text = topologyYaml(topology, '9.9.9')
    expect(text).toMatch(/^# Generated by twadvisor 9\.9\.9 \(wizard\)/)
    expect(text).toContain('client_port_range: [1024, 65535]')
    const back = roundTrip(text, '/x/topology.yaml', topology)
    expect(back.flows).toEqual(topology.flows)
  })
})
