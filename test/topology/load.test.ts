import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {tmpdir} from 'node:os'

import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {loadTopologyFile, parseTopology} from '../../src/topology/load.js'

const FILE = 'topo.yaml'

/** Lines are numbered in the comments so the asserted positions can be checked by eye. */
const VALID = [
  'host: web-01', //                         1
  'kernel: "6.8"', //                        2
  'waivers:', //                             3
  '  - id: server-tw-collision-shared', //   4
  '    flow: api-to-php', //                 5
  '    reason: accepted until the pool lands', // 6
  'flows:', //                               7
  '  - name: api-to-php', //                 8
  '    role: server', //                     9
  '    peer: 10.0.1.10:80', //               10
  '    qps: 600', //                         11
  '    closes_first: server', //             12
  '    senders: 8', //                       13
  '    nat:', //                             14
  '      port_range: [32768, 60999]', //     15
  '  - name: php-to-cache', //               16
  '    role: client', //                     17
  '    peer: "[2001:db8::1]:11211"', //      18
  '    qps: 50', //                          19
  '    closes_first: client', //             20
  '',
].join('\n')

/** A minimal one-flow file (7 lines) to which a test appends or in which it replaces a line. */
const MIN = ['host: web-01', 'flows:', '  - name: api', '    role: client', '    peer: 10.0.1.10:80', '    qps: 600', '    closes_first: server', ''].join('\n')

function errorOf(text: string, file = FILE): TwError {
  try {
    parseTopology(text, file)
  } catch (error) {
    expect(error).toBeInstanceOf(TwError)
    return error as TwError
  }
  throw new Error('expected parseTopology to throw a TwError')
}

describe('a valid topology', () => {
  // Parsed inside each test: parsing in the describe body runs while vitest collects the file,
  // outside any test, which makes every loader mutant it reaches static (docs/mutation.md).
  const valid = () => parseTopology(VALID, FILE)

  it('loads every flow with the declared values', () => {
    const topo = valid()
    expect(topo.file).toBe(FILE)
    expect(topo.host).toBe('web-01')
    expect(topo.kernel).toBe('6.8')
    expect(topo.flows.map((f) => f.name)).toEqual(['api-to-php', 'php-to-cache'])
    expect(topo.flows[0]).toMatchObject({role: 'server', peer: '10.0.1.10:80', qps: 600, closes_first: 'server', senders: 8})
    expect(topo.flows[1]).toMatchObject({role: 'client', peer: '[2001:db8::1]:11211', qps: 50, closes_first: 'client'})
  })

  it('fills the documented defaults: keepalive false, 1 address, 1 sender, 1 endpoint', () => {
    const topo = valid()
    expect(topo.flows[1]).toMatchObject({keepalive: false, client_addresses: 1, senders: 1, server_endpoints: 1})
    expect(topo.flows[1]!.nat).toBeUndefined()
    expect(topo.flows[1]!.client_port_range).toBeUndefined()
  })

  it('fills the NAT defaults when nat is present: conntrack_time_wait = 120 s, port_mode preserve (Linux SNAT)', () => {
    const topo = valid()
    expect(topo.flows[0]!.nat).toEqual({port_range: [32768, 60999], conntrack_time_wait: 120, port_mode: 'preserve'})
  })

  it('reads the harm model fields: nat.port_mode and nat.kernel, client_kernel, client_timestamps, harm_budget', () => {
    const t = parseTopology(
      `flows:
  - name: f
    role: server
    peer: 198.18.0.2:80
    qps: 100
    closes_first: server
    client_kernel: "6.18.20"
    client_timestamps: 2
    harm_budget: 0.01
    nat: {port_range: [1024, 65535], port_mode: fully-random, kernel: "6.1"}
`,
      FILE,
    )
    expect(t.flows[0]).toMatchObject({client_kernel: '6.18.20', client_timestamps: 2, harm_budget: 0.01})
    expect(t.flows[0]!.nat).toEqual({port_range: [1024, 65535], conntrack_time_wait: 120, port_mode: 'fully-random', kernel: '6.1'})
  })

  it('refuses an unknown NAT port mode, naming the field', () => {
    const bad = `flows:
  - name: f
    role: server
    peer: 198.18.0.2:80
    qps: 100
    closes_first: server
    nat: {port_range: [1024, 65535], port_mode: sticky}
`
    const e = errorOf(bad)
    expect(e.code).toBe('topology.invalid')
    expect(e.message).toMatch(/must be one of "preserve", "random", "fully-random"/)
    expect(e.position).toMatchObject({file: FILE, line: 7, field: 'flows.0.nat.port_mode'})
  })

  it('keeps waivers and records the line each flow starts on', () => {
    const topo = valid()
    expect(topo.waivers).toEqual([{id: 'server-tw-collision-shared', flow: 'api-to-php', reason: 'accepted until the pool lands'}])
    expect(topo.flowLines).toEqual([8, 16])
  })

  it('defaults waivers to an empty list when the file has none', () => {
    expect(parseTopology(MIN, FILE).waivers).toEqual([])
  })

  it('loads the bundled incident example from disk', async () => {
    const file = join(import.meta.dirname, '..', '..', 'examples', 'incident', 'topology.yaml')
    const t = await loadTopologyFile(file)
    expect(t.file).toBe(file)
    expect(t.flows.length).toBeGreaterThan(0)
    expect(t.flows.every((f) => f.qps > 0)).toBe(true)
  })
})

describe('topology errors name file:line:col and the field', () => {
  it('an unknown flow key suggests the nearest valid key (closes_frist → closes_first)', () => {
    const e = errorOf(MIN + '    closes_frist: client\n')
    expect(e.code).toBe('topology.unknown-key')
    expect(e.position).toEqual({file: FILE, line: 8, col: 5, field: 'flows.0.closes_frist'})
    expect(e.hint).toBe('did you mean "closes_first"?')
    expect(e.oneLine()).toBe('topo.yaml:8:5: flows.0.closes_frist: unknown key "closes_frist" (did you mean "closes_first"?)')
  })

  it('an unknown top-level key suggests the nearest top-level key (hots → host)', () => {
    const e = errorOf(MIN.replace('host: web-01', 'hots: web-01'))
    expect(e.position).toEqual({file: FILE, line: 1, col: 1, field: 'hots'})
    expect(e.hint).toBe('did you mean "host"?')
  })

  it('an unknown nat key suggests the nearest nat key (conntrack_timewait → conntrack_time_wait)', () => {
    const e = errorOf(MIN + '    nat:\n      port_range: [1024, 65535]\n      conntrack_timewait: 60\n')
    expect(e.position).toEqual({file: FILE, line: 10, col: 7, field: 'flows.0.nat.conntrack_timewait'})
    expect(e.hint).toBe('did you mean "conntrack_time_wait"?')
  })

  it('an unknown key far from every valid one lists the valid keys instead of guessing', () => {
    const e = errorOf(MIN + '    zzzzzzzzzzzz: 1\n')
    expect(e.position).toMatchObject({line: 8, col: 5, field: 'flows.0.zzzzzzzzzzzz'})
    expect(e.hint).toMatch(/^valid keys: .*closes_first/)
  })

  it('an unknown key is reported even when another field is also wrong (unknown keys explain the rest)', () => {
    const e = errorOf(MIN.replace('qps: 600', 'qps: lots') + '    closes_frist: client\n')
    expect(e.code).toBe('topology.unknown-key')
    expect(e.position.line).toBe(8)
  })

  it('a wrong type (qps: lots) points at the value', () => {
    const e = errorOf(MIN.replace('qps: 600', 'qps: lots'))
    expect(e.code).toBe('topology.invalid')
    expect(e.position).toEqual({file: FILE, line: 6, col: 10, field: 'flows.0.qps'})
    expect(e.message).toMatch(/number/)
  })

  it('a non-integer client_addresses is a type error at its line', () => {
    const e = errorOf(MIN + '    client_addresses: 1.5\n')
    expect(e.position).toMatchObject({line: 8, col: 23, field: 'flows.0.client_addresses'})
  })

  it('a zero qps is rejected (qps must be above 0)', () => {
    const e = errorOf(MIN.replace('qps: 600', 'qps: 0'))
    expect(e.position).toMatchObject({line: 6, field: 'flows.0.qps'})
  })

  it('a bad enum (role: proxy) lists the allowed values', () => {
    const e = errorOf(MIN.replace('role: client', 'role: proxy'))
    expect(e.position).toEqual({file: FILE, line: 4, col: 11, field: 'flows.0.role'})
    expect(e.message).toBe('must be one of "client", "server", "nat"')
  })

  it('a bad enum for closes_first (closes_first: both) lists server and client', () => {
    const e = errorOf(MIN.replace('closes_first: server', 'closes_first: both'))
    expect(e.position).toMatchObject({line: 7, col: 19, field: 'flows.0.closes_first'})
    expect(e.message).toContain('"server", "client"')
  })

  it('a peer without a port is an error at the peer with an example', () => {
    const e = errorOf(MIN.replace('peer: 10.0.1.10:80', 'peer: 10.0.1.10'))
    expect(e.position).toEqual({file: FILE, line: 5, col: 11, field: 'flows.0.peer'})
    expect(e.message).toContain('ip:port')
  })

  it('a peer with port 70000 is an error at the peer (ports are 1-65535)', () => {
    const e = errorOf(MIN.replace('peer: 10.0.1.10:80', 'peer: 10.0.1.10:70000'))
    expect(e.position).toEqual({file: FILE, line: 5, col: 11, field: 'flows.0.peer'})
    expect(e.message).toContain('1-65535')
  })

  it('a file without flows is an error naming the missing key at line 1', () => {
    const e = errorOf('host: web-01\nkernel: "6.8"\n')
    expect(e.code).toBe('topology.missing')
    expect(e.position).toEqual({file: FILE, line: 1, col: 1, field: 'flows'})
  })

  it('an empty flows list is an error at the list', () => {
    const e = errorOf('host: web-01\nflows: []\n')
    expect(e.position).toMatchObject({line: 2, col: 8, field: 'flows'})
  })

  it('a flow missing a required key (qps) names that key and the flow line', () => {
    const e = errorOf(MIN.replace('    qps: 600\n', ''))
    expect(e.code).toBe('topology.missing')
    expect(e.position).toEqual({file: FILE, line: 3, col: 5, field: 'flows.0.qps'})
  })

  it('a duplicate flow name points at the second flow name', () => {
    const second = ['  - name: api', '    role: server', '    peer: 10.0.1.10:80', '    qps: 5', '    closes_first: server', ''].join('\n')
    const e = errorOf(MIN + second)
    expect(e.code).toBe('topology.duplicate')
    expect(e.position).toEqual({file: FILE, line: 8, col: 11, field: 'flows.1.name'})
    expect(e.message).toContain('"api"')
  })

  it('a client_port_range with low > high points at the range', () => {
    const e = errorOf(MIN + '    client_port_range: [60999, 32768]\n')
    expect(e.code).toBe('topology.range')
    expect(e.position).toEqual({file: FILE, line: 8, col: 24, field: 'flows.0.client_port_range'})
    expect(e.message).toContain('[60999, 32768]')
  })

  it('a nat.port_range with low > high points at the nat range', () => {
    const e = errorOf(MIN + '    nat:\n      port_range: [2000, 1000]\n')
    expect(e.code).toBe('topology.range')
    expect(e.position).toEqual({file: FILE, line: 9, col: 19, field: 'flows.0.nat.port_range'})
  })

  it('a port range with one end is a schema error at the range', () => {
    const e = errorOf(MIN + '    client_port_range: [1024]\n')
    expect(e.position).toMatchObject({line: 8, field: 'flows.0.client_port_range'})
  })

  it('a waiver naming an unknown flow points at waiver.flow and suggests the nearest flow', () => {
    const text = MIN + 'waivers:\n  - id: server-tw-collision-shared\n    flow: apj\n    reason: ok\n'
    const e = errorOf(text)
    expect(e.code).toBe('topology.waiver')
    expect(e.position).toEqual({file: FILE, line: 10, col: 11, field: 'waivers.0.flow'})
    expect(e.hint).toBe('did you mean "api"?')
  })

  it('a waiver without a reason is an error naming waivers.0.reason', () => {
    const e = errorOf(MIN + 'waivers:\n  - id: server-tw-collision-shared\n')
    expect(e.position).toMatchObject({line: 9, field: 'waivers.0.reason'})
  })

  it('senders fewer than client_addresses is an error at senders', () => {
    const e = errorOf(MIN + '    client_addresses: 3\n    senders: 2\n')
    expect(e.position).toEqual({file: FILE, line: 9, col: 14, field: 'flows.0.senders'})
  })

  it('a YAML syntax error (a nested mapping on one line: "role: client: x") is at that line and column', () => {
    const e = errorOf(MIN.replace('role: client', 'role: client: x'))
    expect(e.code).toBe('topology.yaml')
    expect(e.position).toEqual({file: FILE, line: 4, col: 11})
    expect(e.oneLine()).toMatch(/^topo\.yaml:4:11: Nested mappings/)
  })

  it('a YAML syntax error (a flow key indented 3 spaces instead of 4) is at that line', () => {
    const e = errorOf(MIN.replace('    qps: 600', '   qps: 600'))
    expect(e.code).toBe('topology.yaml')
    expect(e.position).toEqual({file: FILE, line: 6, col: 1})
  })

  it('an unclosed quote is a topology.yaml error (the yaml library places it where the scan ended)', () => {
    const e = errorOf(MIN.replace('peer: 10.0.1.10:80', 'peer: "10.0.1.10:80'))
    expect(e.code).toBe('topology.yaml')
    expect(e.message).toContain('quote')
    expect(e.position).toEqual({file: FILE, line: 8, col: 1})
  })

  it('a duplicated key in one flow is an error at the second occurrence', () => {
    const e = errorOf(MIN + '    qps: 5\n')
    expect(e.code).toBe('topology.yaml')
    expect(e.position).toMatchObject({file: FILE, line: 8, col: 5})
  })

  it('a document that is not a mapping is an error at 1:1', () => {
    const e = errorOf('- just\n- a list\n')
    expect(e.code).toBe('topology.shape')
    expect(e.position).toEqual({file: FILE, line: 1, col: 1})
  })

  it('every error message is one line (no YAML code frame)', () => {
    for (const text of [MIN.replace('peer: 10.0.1.10:80', 'peer: "x'), MIN + '    closes_frist: x\n', 'flows: 3\n']) {
      expect(errorOf(text).oneLine()).not.toContain('\n')
    }
  })

  it('a missing file is a topology.read error naming the file', async () => {
    const file = join(tmpdir(), `tw-no-such-topology-${process.pid}.yaml`)
    await expect(loadTopologyFile(file)).rejects.toMatchObject({code: 'topology.read', position: {file}})
  })
})

describe('the schema file the loader validates against', () => {
  it('lists every field the issue names for a flow (field names are public)', () => {
    const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schema', 'topology.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>
      definitions: {flow: {properties: Record<string, unknown>}}
    }
    expect(Object.keys(schema.properties).sort()).toEqual(['flows', 'host', 'kernel', 'waivers'])
    expect(Object.keys(schema.definitions.flow.properties).sort()).toEqual(
      // bind_before_connect: issue 12 (host-level accounting); client_kernel, client_timestamps, harm_budget: issue 10.
      ['bind_before_connect', 'client_addresses', 'client_kernel', 'client_port_range', 'client_timestamps', 'closes_first', 'harm_budget', 'keepalive', 'name', 'nat', 'peer', 'qps', 'role', 'senders', 'server_endpoints'].sort(),
    )
  })
})

describe('NAT kinds and bind before connect (issue 12)', () => {
  it('a cloud NAT needs no port range: it is filled in and the quota applies', () => {
    const t = parseTopology(`${MIN}    nat:\n      kind: gcp-cloud-nat\n      ports_per_vm: 128\n`, FILE)
    expect(t.flows[0]!.nat).toEqual({kind: 'gcp-cloud-nat', ports_per_vm: 128, port_range: [1024, 65535], conntrack_time_wait: 120, port_mode: 'preserve'})
  })
  it('a Linux NAT without its port range takes ports from 1024-65535, as Linux SNAT without a range does', () => {
    const t = parseTopology(`${MIN}    nat:\n      kind: linux\n`, FILE)
    expect(t.flows[0]!.nat).toMatchObject({kind: 'linux', port_range: [1024, 65535], port_mode: 'preserve'})
  })
  it('an unknown NAT kind is an error naming the field', () => {
    const e = errorOf(`${MIN}    nat:\n      kind: gcp\n`)
    expect(`${e.position?.field}`).toMatch(/nat\.kind/)
    expect(e.position?.line).toBe(9)
  })
  it('bind_before_connect is a boolean on the flow', () => {
    expect(parseTopology(`${MIN}    bind_before_connect: true\n`, FILE).flows[0]!.bind_before_connect).toBe(true)
    expect(errorOf(`${MIN}    bind_before_connect: 1\n`).position?.line).toBe(8)
  })
})
