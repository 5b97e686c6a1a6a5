import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {parseTopology} from '../../src/topology/load.js'

// Where the topology loader points, and which message it gives, in the cases the other loader
// tests do not reach: keys that are absent (defaulted), aliases, a YAML key that is not a
// scalar, and the schema's own message for a type error on a field that has a friendlier
// message for its pattern. Expected positions are counted by hand in the texts below
// (line and column 1-based, as an editor shows them).

const FILE = 'topo.yaml'
const MIN = ['host: web-01', 'flows:', '  - name: api', '    role: client', '    peer: 10.0.1.10:80', '    qps: 600', '    closes_first: server', ''].join('\n')
const flow = (name: string, extra = '') => `  - {name: ${name}, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client${extra}}`

function errorOf(text: string): TwError {
  try {
    parseTopology(text, FILE)
  } catch (error) {
    if (error instanceof TwError) return error
    throw error
  }
  throw new Error('accepted')
}

describe('topology positions', () => {
  it('a key that is absent (its default applies) has no line to point at: the position is the file and the field', () => {
    // senders defaults to 1, fewer than the 2 declared client addresses.
    const e = errorOf(MIN + '    client_addresses: 2\n')
    expect([e.code, e.message]).toEqual(['topology.invalid', 'senders (1) cannot be fewer than client_addresses (2)'])
    expect(e.position).toStrictEqual({file: FILE, field: 'flows.0.senders'})
  })

  it('a value reached through an alias points at the alias, where the file uses it', () => {
    // Flow b's peer is an alias of flow a's name ("a", not ip:port): line 3, the "*nm" at column 35.
    const text = ['flows:', '  - {name: &nm a, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client}', '  - {name: b, role: client, peer: *nm, qps: 1, closes_first: client}', ''].join('\n')
    const e = errorOf(text)
    expect([e.message, e.position]).toEqual(['must be ip:port, e.g. 10.0.1.10:80', {file: FILE, line: 3, col: 35, field: 'flows.1.peer'}])
  })

  it('an unknown key inside an aliased mapping is found in the anchored mapping', () => {
    // Flows f1..f10 reuse f0's nat (which holds an unknown key); the deepest path is reported
    // first, flows.10.nat.zzz, and its key is the one in f0's mapping: line 2, column 140.
    const lines = ['flows:', flow('f0', ', nat: &n {port_range: [1024, 2047], conntrack_time_wait: 1, zzz: 1}'), ...Array.from({length: 10}, (_, i) => flow(`f${i + 1}`, ', nat: *n')), '']
    expect(lines[1]!.indexOf('zzz') + 1).toBe(140)
    const e = errorOf(lines.join('\n'))
    expect([e.code, e.message, e.position]).toEqual(['topology.unknown-key', 'unknown key "zzz"', {file: FILE, line: 2, col: 140, field: 'flows.10.nat.zzz'}])
  })

  it('a YAML key that is not a scalar is an unknown key with no line (there is no scalar key to point at)', () => {
    const e = errorOf(MIN + '    ? [x, y]\n    : 1\n')
    expect([e.code, e.message]).toEqual(['topology.unknown-key', 'unknown key "[ x, y ]"'])
    expect(e.position).toStrictEqual({file: FILE, field: 'flows.0.[ x, y ]'})
  })

  it('an empty file, a null document or only comments is not a topology', () => {
    for (const text of ['', '~\n', '# nothing here\n']) {
      const e = errorOf(text)
      expect([e.code, e.position]).toEqual(['topology.shape', {file: FILE, line: 1, col: 1}])
    }
  })

  it('a file without waivers has no waiver lines', () => {
    const t = parseTopology(MIN, FILE)
    expect([t.waivers, t.waiverLines]).toEqual([[], []])
  })

  it("a YAML syntax error keeps the first line of yaml's message, with no position appended to it (the position is the error's own)", () => {
    const e = errorOf('host: [a\nflows: []\n')
    expect([e.code, e.message, e.position]).toEqual(['topology.yaml', 'Flow sequence in block collection must be sufficiently indented and end with a ]', {file: FILE, line: 2, col: 1}])
  })
})

describe('topology messages', () => {
  it('a peer, kernel, host or reason of the wrong type gets the schema\'s message; only a pattern mismatch gets the friendlier one', () => {
    // Unquoted 6.8 is a YAML number; so are 8080, 42 and 5.
    const cases: [string, string, string][] = [
      [MIN.replace('peer: 10.0.1.10:80', 'peer: 8080'), 'flows.0.peer', 'must be string'],
      ['kernel: 6.8\n' + MIN, 'kernel', 'must be string'],
      [MIN.replace('host: web-01', 'host: 42'), 'host', 'must be string'],
      [MIN + 'waivers:\n  - id: a\n    reason: 5\n', 'waivers.0.reason', 'must be string'],
      [MIN + 'waivers:\n  - id: a\n    reason: ""\n', 'waivers.0.reason', 'must NOT have fewer than 1 characters'],
      [MIN + 'waivers:\n  - id: a\n    reason: "a\\tb"\n', 'waivers.0.reason', 'must be one line of text without control characters'],
    ]
    for (const [text, field, message] of cases) {
      const e = errorOf(text)
      expect([e.code, e.position.field, e.message]).toEqual(['topology.invalid', field, message])
    }
  })

  it('a kernel release below the top level (client_kernel, nat.kernel) keeps the schema\'s pattern message', () => {
    for (const [extra, field] of [
      ['    client_kernel: six\n', 'flows.0.client_kernel'],
      ['    nat: {port_range: [1, 2], kernel: six}\n', 'flows.0.nat.kernel'],
    ] as const) {
      const e = errorOf(MIN + extra)
      expect([e.position.field, e.message]).toEqual([field, 'must match pattern "^[0-9]{1,4}\\.[0-9]{1,4}(\\.[0-9]{1,6})?([-+.~_][\\x21-\\x7e]{0,100})?$"'])
    }
  })
})
