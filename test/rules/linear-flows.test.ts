// `check` is linear in flows (issue 11 item 7): judging a remedy for one flow, or a host-wide
// setting, must not model every flow of the host again. Counted, not timed (speed: bench/flows.js).
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {modelCalls} from '../../src/model/flow.js'
import {evaluateHost, firedWith} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {factsFromDump} from '../../src/sources/dump.js'
import type {Flow} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const rules = loadRules()
// Read inside the test that needs it: at module level it runs outside any test (static for Stryker).
const facts = () => factsFromDump(readFileSync(join(root, 'test/fixtures/sysctl-6.18.44.txt')), 'sysctl-6.18.44.txt')

/** bench/flows.js's topology: every role and closer, QPS that vary, some behind NAT. */
function flows(count: number): Flow[] {
  return Array.from({length: count}, (_, i) => {
    const role = (['client', 'server', 'nat'] as const)[i % 3]
    const nat = role === 'nat' || i % 7 === 0
    return makeFlow({
      name: `f${i}`,
      role,
      peer: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1000 + (i % 50000)}`,
      qps: 1 + ((i * 37) % 2500),
      closes_first: i % 4 === 0 ? 'server' : 'client',
      keepalive: i % 5 === 0,
      ...(nat ? {senders: 8, nat: {port_range: [32768, 60999], conntrack_time_wait: 120, port_mode: 'preserve'}} : {}),
    })
  })
}

function modelsFor(count: number): number {
  const before = modelCalls.flows
  evaluateHost(facts(), {file: 't.yaml', waivers: [], flows: flows(count)}, rules)
  return modelCalls.flows - before
}

describe('check models each flow a bounded number of times', () => {
  it('twice the flows, at most about twice the flow models (it was four times: every remedy re-ran every flow)', () => {
    const n100 = modelsFor(100)
    const n200 = modelsFor(200)
    expect(n100).toBeGreaterThan(100)
    expect(n200 / n100).toBeLessThanOrEqual(2.2)
    // About 7 per flow; 14 when every judged tcp_max_tw_buckets value re-modelled every flow.
    expect(n200).toBeLessThanOrEqual(200 * 9)
  })

  it('a judged host-wide setting models again only the flows it can move', () => {
    const topology = {file: 't.yaml', waivers: [], flows: flows(300)}
    const dump = facts()
    // Flows that keep TIME_WAIT here: servers closing first read the cap's value, clients closing
    // first the overflow share (and need their first pass once, for twOverflowKeepsPortsFor).
    const moved = topology.flows.filter((f) => f.role !== 'nat' && f.role === f.closes_first).length
    const readers = topology.flows.filter((f) => f.role === 'client' && f.closes_first === 'client').length
    const count = (sysctl: Record<string, string>) => {
      const before = modelCalls.flows
      firedWith(dump, topology, rules, sysctl)
      return modelCalls.flows - before
    }
    // The dump's own value: nothing moves, so this is what the unchanged host costs.
    const unchanged = count({'net.ipv4.tcp_max_tw_buckets': '131072'})
    for (const cap of ['1000', '50000000']) {
      const extra = count({'net.ipv4.tcp_max_tw_buckets': cap}) - unchanged
      expect(extra).toBeGreaterThan(0)
      expect(extra).toBeLessThanOrEqual(moved + readers)
    }
  })
})
