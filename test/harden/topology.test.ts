// Issue 11 items 3 and 8 (YAML): numbers in a topology are finite and bounded, generated values
// stay within what the kernel accepts, and the YAML layer's errors are one line at file:line:col.
import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {planFromReport} from '../../src/generate/plan.js'
import {validatePlan} from '../../src/generate/validate.js'
import {parseTopology} from '../../src/topology/load.js'
import {finding, fixtureFacts, remedy, report} from '../generate/helpers.js'

const flow = (extra: string) => `flows:\n  - {name: a, role: client, peer: "10.0.0.1:80", qps: 5, closes_first: client${extra}}\n`

function errorOf(text: string): TwError {
  try {
    parseTopology(text, 'f.yaml')
  } catch (error) {
    if (error instanceof TwError) return error
    throw new Error(`not a TwError: ${String(error)}`)
  }
  throw new Error('accepted')
}

describe('numbers in a topology (item 3)', () => {
  it.each([
    ['qps: .inf', 'flows.0.qps', /finite/],
    ['qps: 1e400', 'flows.0.qps', /finite/],
    ['qps: .nan', 'flows.0.qps', /finite/],
    ['qps: -.inf', 'flows.0.qps', /finite/],
    ['qps: 1e12', 'flows.0.qps', /must be <= 10000000/],
    ['senders: 1e300', 'flows.0.senders', /finite|must be/],
    ['client_addresses: 4294967296', 'flows.0.client_addresses', /must be <= 1000000/],
    ['server_endpoints: 1.5', 'flows.0.server_endpoints', /integer/],
  ])('%s is refused at its line and column', (field, path, why) => {
    const text = flow('').replace('qps: 5', field.startsWith('qps') ? field : `qps: 5, ${field}`)
    const e = errorOf(text)
    expect(e.position).toMatchObject({file: 'f.yaml', line: 2, field: path})
    expect(e.position.col).toBeGreaterThan(1)
    expect(e.oneLine()).toMatch(why)
  })

  it('kernel: must be a release, not digits followed by junk', () => {
    const e = errorOf(`kernel: "${'9'.repeat(40)}.1junk"\n${flow('')}`)
    expect(e.oneLine()).toMatch(/^f\.yaml:1:9: kernel: must be a kernel release/)
    expect(() => parseTopology(`kernel: "6.1.0-18-amd64"\n${flow('')}`, 'f.yaml')).not.toThrow()
  })

  it('a waiver reason is one line without control characters', () => {
    const e = errorOf(`${flow('')}waivers:\n  - {id: keepalive-off, reason: "ok\\u001b]0;x\\u0007"}\n`)
    expect(e.position.field).toBe('waivers.0.reason')
  })
})

describe('generated values within what the kernel accepts (item 3)', () => {
  const plan = (key: string, value: string) => planFromReport(report([finding('r', [remedy({sysctl: {[key]: value}, why: 'w'})])]))
  it.each([
    ['net.ipv4.tcp_max_tw_buckets', '60000000000000', /not a decimal integer|outside/],
    ['net.ipv4.tcp_max_tw_buckets', '2147483648', /outside/],
    ['net.ipv4.tcp_tw_reuse', '3', /not one of 0, 1, 2/],
    ['net.ipv4.tcp_fin_timeout', '99999999999', /not a decimal integer|outside/],
    ['net.ipv4.ip_local_port_range', '1024 70000', /outside 1\.\.65535/],
  ])('%s = %s is refused before anything is written', (key, value, why) => {
    expect(() => validatePlan(plan(key, value), fixtureFacts())).toThrow(why)
  })

  it('an in-range value passes', () => {
    expect(() => validatePlan(plan('net.ipv4.tcp_max_tw_buckets', '2147483647'), fixtureFacts())).not.toThrow()
  })
})

describe('YAML errors are one line with file:line:col (item 8)', () => {
  it('an alias bomb stops early, at the first alias, in one line', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g'], ['g', 'h']] as const) {
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`)
    }
    const t0 = Date.now()
    const e = errorOf(`${levels.join('\n')}\nflows: [*h]\n`)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(e.oneLine()).toMatch(/^f\.yaml:2:\d+: aliases expand too far/)
    expect(e.oneLine()).not.toContain('\n')
  })

  it('a second document is named as such, at its line', () => {
    const e = errorOf(`${flow('')}---\n${flow('')}`)
    expect(e.oneLine()).toMatch(/^f\.yaml:3:1: holds more than one YAML document/)
    expect(e.oneLine()).not.toContain('parseAllDocuments')
  })

  it('an aliased flow keeps a position: the line that uses the alias', () => {
    const e = errorOf('flows:\n  - &f {name: a, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client}\n  - *f\n')
    expect(e.oneLine()).toMatch(/^f\.yaml:3:5: flows\.1\.name: flow name "a" is used twice/)
  })

  it('a schema error inside an aliased flow points at the alias', () => {
    const e = errorOf('x: &f {name: a, role: client, peer: "10.0.0.1:80", qps: -1, closes_first: client}\nflows:\n  - *f\n')
    // The unknown top-level key "x" is reported first (it explains the rest); it has its own position.
    expect(e.position.line).toBe(1)
    const e2 = errorOf('flows:\n  - {name: b, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client}\n  - &f {name: a, role: client, peer: "10.0.0.1:80", qps: 1, closes_first: client}\n  - *f\n')
    expect(e2.position).toMatchObject({line: 4, col: 5, field: 'flows.2.name'})
  })
})
