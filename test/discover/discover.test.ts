import {cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {parseConntrack} from '../../src/discover/conntrack.js'
import {FlowTable, lineSplitter, rangeSplitter} from '../../src/discover/group.js'
import {discoverSaved, topologyOf} from '../../src/discover/index.js'
import {harmModelFields, toJson, toYaml} from '../../src/discover/render.js'
import {parseSsDuration, parseSsLine, splitEndpoint} from '../../src/discover/ss.js'
import {isTwError} from '../../src/errors.js'
import {parseTopology} from '../../src/topology/load.js'
import {FIXTURES, run} from '../e2e/helpers.js'

const PHP = join(FIXTURES, 'discover', 'php')

describe('ss lines', () => {
  it('reads the state column when present and the filter state when not, with timers', () => {
    expect(parseSsLine('ESTAB 0      0      10.0.0.1:80 10.0.0.2:40000')).toEqual({state: 'ESTAB', recvQ: 0, local: '10.0.0.1:80', peer: '10.0.0.2:40000'})
    expect(parseSsLine('0      0      10.0.0.1:80 10.0.0.2:40000 timer:(timewait,59sec,0)', 'TIME-WAIT')).toMatchObject({state: 'TIME-WAIT', timerSeconds: 59})
    expect(parseSsLine('0 0 [::1]:80 [::1]:5 timer:(timewait,1min2sec,0)', 'TIME-WAIT')!.timerSeconds).toBe(62)
    expect(parseSsLine('0 0 a:1 b:2 timer:(timewait,500ms,0)', 'X')!.timerSeconds).toBe(0.5)
    expect(parseSsDuration('1.5sec')).toBe(1.5)
    expect(parseSsLine('')).toBeNull()
    expect(parseSsLine('garbage')).toBeNull()
  })

  it('endpoints: v6 in brackets, v4-mapped folded to v4, interface suffix dropped, wildcard port refused', () => {
    expect(splitEndpoint('[2001:db8::1]:443')).toEqual({ip: '2001:db8::1', port: 443})
    expect(splitEndpoint('[::ffff:10.0.0.1]:80')).toEqual({ip: '10.0.0.1', port: 80})
    expect(splitEndpoint('10.0.0.1%eth0:80')).toEqual({ip: '10.0.0.1', port: 80})
    expect(splitEndpoint('0.0.0.0:*')).toBeNull()
  })

  it('the line splitter hands over every line across chunk borders, and the last one without a newline', () => {
    const got: string[] = []
    const s = lineSplitter((l) => got.push(l))
    for (const c of ['ab', 'c\nde', 'f\n\ng', 'h']) s.push(c)
    s.end()
    expect(got).toEqual(['abc', 'def', '', 'gh'])
  })

  it('read in place (ranges of chunks) or line by line, a table comes to the same counts', () => {
    const text = readFileSync(join(PHP, 'time-wait.txt'), 'utf8') + '0 0 [::1]:80 [::1]:40000 timer:(timewait,59sec,0)\ngarbage\n'
    const a = new FlowTable(10)
    const b = new FlowTable(10)
    for (const t of [a, b]) t.addListener('LISTEN 0 511 10.0.1.10:80 0.0.0.0:*')
    const byLine = lineSplitter((l) => a.addTimeWait(l))
    const byRange = rangeSplitter((s, from, to) => b.addTimeWaitAt(s, from, to))
    // Odd chunk sizes cut lines anywhere, also inside an endpoint or a timer.
    for (let i = 0; i < text.length; i += 997) {
      byLine.push(text.slice(i, i + 997))
      byRange.push(text.slice(i, i + 997))
    }
    byLine.end()
    byRange.end()
    expect([...b.groups.entries()]).toEqual([...a.groups.entries()])
    expect(b.skipped).toBe(a.skipped)
    expect(a.groups.get('server 10.0.1.10:80')).toMatchObject({timeWait: 1800, timeWaitRecent: 600})
    expect(a.groups.get('server [::1]:80')).toMatchObject({timeWait: 1})
  })

  it('a socket on a listener is a server flow, any other an outgoing flow toward its peer', () => {
    const t = new FlowTable(10)
    t.addListener('LISTEN 0 128 0.0.0.0:8080 0.0.0.0:*')
    t.addListener('LISTEN 0 128 10.0.0.1:80 0.0.0.0:*')
    t.addTimeWait('0 0 10.0.0.1:80 10.0.0.9:40000 timer:(timewait,55sec,0)')
    t.addTimeWait('0 0 10.0.0.2:8080 10.0.0.9:40001 timer:(timewait,20sec,0)')
    t.addTimeWait('0 0 10.0.0.1:40002 10.0.0.7:80 timer:(timewait,20sec,0)')
    // No listener on 443 any more (a restart): a privileged port facing an unprivileged one is a server's.
    t.addTimeWait('0 0 10.0.0.1:443 10.0.0.9:40003 timer:(timewait,20sec,0)')
    expect([...t.groups.keys()].sort()).toEqual(['client 10.0.0.7:80', 'server 10.0.0.1:443', 'server 10.0.0.1:80', 'server 10.0.0.2:8080'])
    expect(t.groups.get('server 10.0.0.1:80')).toMatchObject({timeWait: 1, timeWaitRecent: 1})
    expect(t.groups.get('server 10.0.0.2:8080')).toMatchObject({timeWait: 1, timeWaitRecent: 0})
  })
})

describe('discover on a saved capture (the incident at a tenth of its rates)', async () => {
  const d = await discoverSaved(PHP, {intervalSeconds: 10})
  const byName = Object.fromEntries(d.flows.map((f) => [f.flow.name, f]))

  it('finds the four flows above the floor and folds the DNS trickle', () => {
    expect(Object.keys(byName).sort()).toEqual(['in-10.0.1.10-80', 'in-2001_db8__10-22', 'out-10.0.2.20-11211', 'out-10.0.3.30-3306'])
    expect(d.folded).toEqual([{role: 'client', endpoint: '10.0.9.9:53', qps: 0.3}])
  })

  it('the API flow: server, server closes first, 60/s, one address, more senders than addresses', () => {
    const f = byName['in-10.0.1.10-80']!
    expect(f.flow).toMatchObject({role: 'server', peer: '10.0.1.10:80', qps: 60, closes_first: 'server', keepalive: false, client_addresses: 1})
    expect(f.flow.senders).toBe(2)
    expect(f.fields.senders!.evidence).toMatch(/minority parity/)
    expect(f.fields.closes_first!.confidence).toBe('high')
    expect(f.unknown.map((u) => u.field)).toEqual(['senders', 'client_port_range'])
    expect(f.extra['nat.port_mode']?.value).toBe('random')
  })

  it('outgoing flows: who holds TIME_WAIT says who closes first; the rate is the count of ends', () => {
    expect(byName['out-10.0.2.20-11211']!.flow).toMatchObject({role: 'client', qps: 60, closes_first: 'client', senders: 1})
    expect(byName['out-10.0.3.30-3306']!.flow).toMatchObject({role: 'client', qps: 30, closes_first: 'server'})
    expect(byName['out-10.0.2.20-11211']!.extra.ports_used?.value).toBe('32768-33966')
  })

  it('a connection held through the interval is keep-alive; its closer is left for the user', () => {
    const f = byName['in-2001_db8__10-22']!
    expect(f.flow).toMatchObject({role: 'server', peer: '[2001:db8::10]:22', keepalive: true, qps: 0.1})
    expect(f.unknown.map((u) => u.field)).toContain('closes_first')
  })

  it('the counters cross-check the sum of ends', () => {
    expect(d.notes[0]).toBe('1503 connection ends against 1503 opens (ActiveOpens + PassiveOpens) in the interval')
  })

  it('the YAML passes the schema through the topology loader, with every field\'s evidence above it', async () => {
    const {yaml, topology} = await topologyOf(d)
    expect(parseTopology(yaml, 'x.yaml').flows).toEqual(topology.flows)
    expect(topology.flows.map((f) => f.name)).toEqual(d.flows.map((f) => f.flow.name))
    const lines = yaml.split('\n')
    for (const f of d.flows) {
      for (const [key, ev] of Object.entries(f.fields)) {
        const at = lines.findIndex((l, i) => l.trim().startsWith(`${key}:`) && lines.slice(0, i).some((x) => x.includes(`name: ${f.flow.name}`)) && lines[i - 1]!.includes(ev.evidence))
        expect(at, `${f.flow.name}.${key}`).toBeGreaterThan(0)
      }
    }
    expect(yaml).toContain('# fill in senders:')
    expect(yaml).toContain('# Folded, under 1 new connections/s: client 10.0.9.9:53 (0.3/s)')
  })

  it('the harm-model fields stay comments until the schema takes them', () => {
    for (const f of d.flows) expect(harmModelFields(f)).toEqual({})
    expect(toYaml(d)).toContain('# nat.port_mode: random')
    expect(JSON.stringify(toJson(d))).toContain('"nat.port_mode"')
  })

  it('thousands of folded peers make one line, not a page', () => {
    const many = {...d, folded: Array.from({length: 5000}, (_, i) => ({role: 'client', endpoint: `10.9.${i >> 8}.${i & 255}:80`, qps: 0.1}))}
    const line = toYaml(many).split('\n').find((l) => l.startsWith('# Folded'))!
    expect(line).toMatch(/ and 4990 more$/)
    expect(line.length).toBeLessThan(400)
  })

  it('a higher floor folds more; nothing left is an error that says what to do', async () => {
    const high = await discoverSaved(PHP, {intervalSeconds: 10, floorQps: 1000})
    expect(high.flows.map((f) => f.flow.name)).toEqual(['in-2001_db8__10-22'])
    const none = await discoverSaved(join(FIXTURES, 'discover', 'php'), {intervalSeconds: 10, floorQps: 1000})
    none.flows = []
    await expect(topologyOf(none)).rejects.toThrow(/no flow at or above 1000 new connections\/s/)
  })
})

describe('bad input', () => {
  it('a saved folder without listen.txt: one error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-discover-'))
    try {
      await discoverSaved(dir, {intervalSeconds: 10})
      expect.unreachable()
    } catch (e) {
      expect(isTwError(e)).toBe(true)
      expect((e as {oneLine: () => string}).oneLine()).toMatch(new RegExp(`^${join(dir, 'listen.txt')}: cannot read`))
    } finally {
      rmSync(dir, {recursive: true})
    }
  })

  it('the CLI prints one line and exits 1, no stack, nothing on stdout', () => {
    const r = run(['discover', '--from', '/nonexistent/dir'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^twadvisor: error: \/nonexistent\/dir\/listen.txt: cannot read/)
    expect(run(['discover', '--from', PHP, '--floor', 'many']).stderr).toMatch(/^twadvisor: error: --floor: --floor must be a number/)
  })

  it('-o writes the topology atomically and check -t loads it unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-discover-'))
    const out = join(dir, 'topology.yaml')
    expect(run(['discover', '--from', PHP, '-o', out]).code).toBe(0)
    const text = readFileSync(out, 'utf8')
    expect(text).toContain('name: in-10.0.1.10-80')
    const r = run(['check', '-t', out, '--sysctl-file', join(FIXTURES, 'sysctl-6.18.44.txt'), '--format', 'json'])
    expect([0, 2]).toContain(r.code)
    expect(JSON.parse(r.stdout).hosts[0].findings.map((f: {id: string}) => f.id)).toContain('server-tw-collision-shared')
    rmSync(dir, {recursive: true})
  })

  it('a malformed line is skipped and counted, not fatal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-discover-'))
    cpSync(PHP, dir, {recursive: true})
    writeFileSync(join(dir, 'time-wait.txt'), readFileSync(join(PHP, 'time-wait.txt'), 'utf8') + 'x\n')
    const d = await discoverSaved(dir, {intervalSeconds: 10})
    expect(d.notes).toContain('1 socket lines could not be read and were skipped')
    rmSync(dir, {recursive: true})
  })
})

describe('conntrack (NAT evidence)', () => {
  const line = (sport: number, rport: number, state = 'TIME_WAIT', src = '198.18.1.2') =>
    `ipv4     2 tcp      6 110 ${state} src=${src} dst=198.19.0.2 sport=${sport} dport=80 src=198.19.0.2 dst=198.19.0.101 sport=80 dport=${rport} [ASSURED] mark=0 zone=0 use=2`

  it('entries that kept the sender\'s port say preserve; remapped ones say remap', () => {
    const kept = parseConntrack([line(40000, 40000), line(40002, 40002, 'ESTABLISHED', '198.18.2.2')].join('\n'))
    expect(kept).toMatchObject({portMode: 'preserve', preservedShare: 1})
    expect(kept.groups).toEqual([{natAddress: '198.19.0.101', destination: '198.19.0.2:80', entries: 2, timeWait: 1, preserved: 2, senders: 2, minPort: 40000, maxPort: 40002}])
    expect(parseConntrack([line(40000, 51234), line(40002, 40002)].join('\n')).portMode).toBe('remap')
  })

  it('entries not source-NATed are not NAT evidence', () => {
    const direct = 'ipv4 2 tcp 6 110 TIME_WAIT src=198.18.1.2 dst=198.19.0.2 sport=40000 dport=80 src=198.19.0.2 dst=198.18.1.2 sport=80 dport=40000 [ASSURED] mark=0'
    expect(parseConntrack(direct)).toEqual({groups: [], portMode: null, preservedShare: null})
  })
})

describe('read-only by construction', () => {
  it('the discover sources never kill sockets (ss -K) nor walk /proc/net/tcp', () => {
    const root = join(FIXTURES, '..', '..', 'src')
    const files = [join(root, 'sources', 'sockets.ts'), ...readdirSync(join(root, 'discover')).map((f) => join(root, 'discover', f))]
    for (const f of files) {
      const text = readFileSync(f, 'utf8')
      expect(text, f).not.toMatch(/['"]-[a-zA-Z]*K[a-zA-Z]*['"]|--kill/)
      expect(text, f).not.toMatch(/\/proc\/net\/tcp6?['"`]/)
      expect(text, f).not.toMatch(/sysctl['"],\s*\[?['"]-w|writeFile/)
    }
  })
})
