import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {parseTopology} from '../../src/topology/load.js'

// More of the topology loader's choices: which of several schema errors it reports, the checks a
// schema cannot make, waiver keys, and the line each waiver starts on.

const FILE = 'topo.yaml'
const MIN = ['host: web-01', 'flows:', '  - name: api', '    role: client', '    peer: 10.0.1.10:80', '    qps: 600', '    closes_first: server', ''].join('\n')

function errorOf(text: string): TwError {
  try {
    parseTopology(text, FILE)
  } catch (error) {
    if (error instanceof TwError) return error
    throw error
  }
  throw new Error('accepted')
}

describe('the topology loader', () => {
  it('of several schema errors, the deepest: a bad nat value before the flow\'s missing qps', () => {
    const text = MIN.replace('    qps: 600\n', '') + '    nat:\n      port_range: [1, 2]\n      conntrack_time_wait: soon\n'
    const e = errorOf(text)
    // Lines: 7 nat, 8 port_range, 9 conntrack_time_wait (the qps line is gone).
    expect(e.position).toMatchObject({field: 'flows.0.nat.conntrack_time_wait', line: 9})
  })

  it('a one-port range is a range (low end equal to the high end)', () => {
    const t = parseTopology(MIN + '    client_port_range: [40000, 40000]\n', FILE)
    expect(t.flows[0]!.client_port_range).toEqual([40000, 40000])
  })

  it('a flow with role nat needs its nat pool', () => {
    const e = errorOf(MIN.replace('role: client', 'role: nat'))
    expect(e.code).toBe('topology.missing')
    expect(e.position).toEqual({file: FILE, line: 4, col: 11, field: 'flows.0.nat'})
  })

  it('a waiver without a flow covers every flow; waiver lines point at each id', () => {
    const t = parseTopology(MIN + 'waivers:\n  - id: a\n    reason: r\n  - id: b\n    flow: api\n    reason: r\n', FILE)
    expect(t.waivers.map((w) => w.flow)).toEqual([undefined, 'api'])
    expect(t.waiverLines).toEqual([9, 11])
    expect(t.flowLines).toEqual([3])
  })

  it('an unknown waiver key suggests a waiver key', () => {
    const e = errorOf(MIN + 'waivers:\n  - id: a\n    reson: r\n')
    expect(e.code).toBe('topology.unknown-key')
    expect(e.hint).toBe('did you mean "reason"?')
    expect(e.position).toMatchObject({line: 10, field: 'waivers.0.reson'})
  })

  it('a top-level list or scalar is not a topology', () => {
    for (const text of ['- a\n- b\n', '42\n', '"flows"\n']) {
      const e = errorOf(text)
      expect([e.code, e.position]).toEqual(['topology.shape', {file: FILE, line: 1, col: 1}])
    }
  })

  it('a host label or a peer that does not match says what it must be', () => {
    expect(errorOf(MIN.replace('host: web-01', 'host: "-web"')).message).toMatch(/^must be a host name or short label/)
    const peer = errorOf(MIN.replace('peer: 10.0.1.10:80', 'peer: "10.0.1.10"'))
    expect([peer.message, peer.position.field]).toEqual(['must be ip:port, e.g. 10.0.1.10:80', 'flows.0.peer'])
    // Another pattern (a waiver id) keeps the schema's own message.
    const id = errorOf(MIN + 'waivers:\n  - id: "Bad Id"\n    reason: r\n')
    expect(id.message).not.toMatch(/ip:port|host name|kernel release|one line/)
  })

  it('a non-finite number anywhere is found, after finite ones and past nulls', () => {
    const e = errorOf(MIN + '    client_port_range: [1024, .inf]\n')
    expect([e.message, e.position.field, e.position.line]).toEqual(['must be a finite number', 'flows.0.client_port_range.1', 8])
    const n = errorOf(MIN.replace('host: web-01', 'host: ~') + '    client_port_range: [1024, .nan]\n')
    expect(n.position.field).toBe('flows.0.client_port_range.1')
  })

  it('ordinary reuse past yaml\'s default of 100 alias expansions loads (the limit is 1,000)', () => {
    // The first flow anchors its nat; 150 more flows reuse it (150 expansions).
    const flows = Array.from({length: 150}, (_, i) => `  - {name: f${i}, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client, nat: *pool}`)
    const first = '  - {name: a, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client, nat: &pool {port_range: [1024, 65535], conntrack_time_wait: 120}}'
    const t = parseTopology(['host: h', 'flows:', first, ...flows, ''].join('\n'), FILE)
    expect(t.flows).toHaveLength(151)
    expect(t.flows[150]!.nat?.port_range).toEqual([1024, 65535])
  })
})
