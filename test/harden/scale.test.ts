// Issue 11 item 7: the engine's linear-cost path (a local rule's remedy judged on its own flow,
// whole-host re-runs shared between equal patches) gives exactly the report of the definition
// (every remedy re-runs the whole host). The speed itself is measured in bench/flows.js.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import type {Facts} from '../../src/facts/types.js'
import {evaluateHost, firedWith, isLocalRule} from '../../src/rules/engine.js'
import {loadRules} from '../../src/rules/load.js'
import {factsFromDump} from '../../src/sources/dump.js'
import {NAT_DEFAULTS, type Flow, type Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')
const DUMPS = ['sysctl-6.18.44.txt', 'sysctl-3.10-tw-recycle.txt'].map((f) => factsFromDump(readFileSync(join(FIXTURES, f), 'utf8'), f))
// A host whose flows overflow tcp_max_tw_buckets and fill conntrack: host-wide remedies (the cap,
// nf_conntrack_max) are judged on every flow there (runModelUnder models only the flows they move).
DUMPS.push(Object.assign({}, DUMPS[0]!, {sysctls: Object.assign({}, DUMPS[0]!.sysctls, {'net.ipv4.tcp_max_tw_buckets': '4096', 'net.netfilter.nf_conntrack_max': '30000'})}))
const RULES = loadRules()

const flowArb: fc.Arbitrary<Omit<Flow, 'name'>> = fc
  .record({
    role: fc.constantFrom('client', 'server', 'nat') as fc.Arbitrary<Flow['role']>,
    closes_first: fc.constantFrom('client', 'server') as fc.Arbitrary<Flow['closes_first']>,
    qps: fc.oneof(fc.integer({min: 1, max: 3000}), fc.double({min: 0.01, max: 50, noNaN: true})),
    keepalive: fc.boolean(),
    client_addresses: fc.integer({min: 1, max: 4}),
    extraSenders: fc.integer({min: 0, max: 20}),
    server_endpoints: fc.integer({min: 1, max: 3}),
    nat: fc.option(fc.record({lo: fc.integer({min: 1024, max: 30000}), span: fc.integer({min: 0, max: 30000}), tw: fc.integer({min: 1, max: 240})}), {nil: undefined}),
    peer: fc.constantFrom('198.18.0.2:80', '127.0.0.1:6379', '198.18.1.9:11211'),
    bind: fc.boolean(),
  })
  .map(({extraSenders, nat, role, bind, ...f}) => {
    const natSpec = nat ? {...NAT_DEFAULTS, port_range: [nat.lo, nat.lo + nat.span] as [number, number], conntrack_time_wait: nat.tw} : role === 'nat' ? {...NAT_DEFAULTS, port_range: [1024, 65535] as [number, number], conntrack_time_wait: 120} : undefined
    return {...makeFlow(), ...f, role, senders: f.client_addresses + extraSenders, ...(bind && role === 'client' ? {bind_before_connect: true} : {}), ...(natSpec ? {nat: natSpec} : {})}
  })

describe('the linear-cost engine path is the definition, only faster', () => {
  it('some rules take the local path (else this test would prove nothing)', () => {
    expect(RULES.filter(isLocalRule).length).toBeGreaterThan(0)
    expect(RULES.filter((r) => !isLocalRule(r)).length).toBeGreaterThan(0)
  })

  // A rule whose verdict after the remedy depends on another flow: it must not take the local path.
  function crowdRule() {
    const dir = mkdtempSync(join(tmpdir(), 'twrule-'))
    try {
      const file = join(dir, 'test-crowd.yaml')
      writeFileSync(
        file,
        [
          'id: test-crowd',
          'title: Another flow is busy too',
          'severity: warning',
          'applies_to: client',
          'when: "flows.exists(f, f.qps > 10.0) && flow.qps > 1.0"',
          'message: busy',
          'evidence: [flow.qps]',
          'remedies:',
          '  - action: slow down',
          "    flow: {qps: '5'}",
          '    why: fewer',
          'explanation: test',
          'references: [test]',
          'cases:',
          '  fires:',
          '    - flow: {qps: 50}',
          '  passes:',
          '    - flow: {qps: 2}',
        ].join('\n'),
      )
      return loadRules(dir).find((r) => r.id === 'test-crowd')!
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }

  it('a rule that reads other flows is judged on the whole host', () => {
    const crowd = crowdRule()
    expect(isLocalRule(crowd)).toBe(false)
    const topology: Topology = {file: 't.yaml', host: 'h', waivers: [], flows: [makeFlow({name: 'a', role: 'client', qps: 20}), makeFlow({name: 'b', role: 'client', qps: 20})]}
    const fast = evaluateHost(DUMPS[0]!, topology, [crowd])
    expect(fast).toEqual(evaluateHost(DUMPS[0]!, topology, [crowd], {exhaustive: true}))
    // Slowing one flow leaves the other busy: on the whole host the remedy does not clear the finding.
    expect(fast.findings.map((f) => f.remedies.length)).toEqual([0, 0])
  })

  it('gives the same report as re-running the whole host for every remedy, on random topologies', () => {
    fc.assert(
      fc.property(fc.array(flowArb, {minLength: 1, maxLength: 6}), fc.constantFrom(0, 1, 2), fc.option(fc.constantFrom('6.8', '4.9', '5.15'), {nil: undefined}), (flows, d, kernel) => {
        const topology: Topology = {file: 't.yaml', host: 'h', waivers: [], flows: flows.map((f, i) => ({...f, name: `f${i}`})), ...(kernel ? {kernel} : {})}
        const facts = DUMPS[d]!
        const fast = evaluateHost(facts, topology, RULES)
        const full = evaluateHost(facts, topology, RULES, {exhaustive: true})
        expect(fast).toEqual(full)
      }),
      {numRuns: 150},
    )
  }, 120_000)

  it('judges a host-wide setting as the whole host re-run does (tcp_max_tw_buckets, nf_conntrack_max)', () => {
    fc.assert(
      fc.property(
        fc.array(flowArb, {minLength: 1, maxLength: 10}),
        fc.constantFrom(0, 2),
        fc.integer({min: 0, max: 400_000}),
        fc.option(fc.integer({min: 0, max: 400_000}), {nil: undefined}),
        fc.constantFrom('info', 'warning', 'critical') as fc.Arbitrary<'info' | 'warning' | 'critical'>,
        (flows, d, cap, conntrack, minSeverity) => {
          const topology: Topology = {file: 't.yaml', host: 'h', waivers: [], flows: flows.map((f, i) => ({...f, name: `f${i}`}))}
          const sysctl: Record<string, string> = {'net.ipv4.tcp_max_tw_buckets': String(cap), ...(conntrack === undefined ? {} : {'net.netfilter.nf_conntrack_max': String(conntrack)})}
          const fast = firedWith(DUMPS[d]!, topology, RULES, sysctl, {minSeverity})
          expect(fast).toEqual(firedWith(DUMPS[d]!, topology, RULES, sysctl, {minSeverity, exhaustive: true}))
        },
      ),
      {numRuns: 400},
    )
  }, 120_000)

  it('judges a one-flow change as the exhaustive path does (the unchanged verdicts re-used where the fields read are equal)', () => {
    const patchArb = fc.oneof(
      fc.record({keepalive: fc.boolean()}),
      fc.record({keepalive: fc.constant(true), qps: fc.integer({min: 1, max: 3000})}),
      fc.record({client_addresses: fc.integer({min: 1, max: 8})}),
      fc.record({server_endpoints: fc.integer({min: 1, max: 8})}),
      fc.record({qps: fc.integer({min: 1, max: 20000})}),
      fc.record({client_port_range: fc.constantFrom([1024, 65535], [40000, 40999])}),
    )
    fc.assert(
      fc.property(
        fc.array(flowArb, {minLength: 1, maxLength: 8}),
        fc.constantFrom(0, 1, 2),
        fc.nat(),
        patchArb,
        fc.constantFrom('info', 'warning', 'critical') as fc.Arbitrary<'info' | 'warning' | 'critical'>,
        (flows, d, which, patch, minSeverity) => {
          const topology: Topology = {file: 't.yaml', host: 'h', waivers: [], flows: flows.map((f, i) => ({...f, name: `f${i}`}))}
          const flow = {name: `f${which % flows.length}`, patch: patch as Record<string, unknown>}
          const fast = firedWith(DUMPS[d]!, topology, RULES, {}, {minSeverity, flow})
          expect(fast).toEqual(firedWith(DUMPS[d]!, topology, RULES, {}, {minSeverity, flow, exhaustive: true}))
        },
      ),
      {numRuns: 400},
    )
  }, 120_000)

  it('the same on hosts that overflow tcp_max_tw_buckets, where host-wide remedies move many flows', () => {
    const busy = fc.array(flowArb.map((f) => ({...f, qps: typeof f.qps === 'number' && f.qps < 100 ? f.qps * 40 : f.qps})), {minLength: 3, maxLength: 10})
    fc.assert(
      fc.property(busy, fc.constantFrom('4096', '20000', '100000'), fc.constantFrom('30000', '262144'), (flows, cap, conntrack) => {
        const topology: Topology = {file: 't.yaml', host: 'h', waivers: [], flows: flows.map((f, i) => ({...f, name: `f${i}`}))}
        const facts = Object.assign({}, DUMPS[0]!, {sysctls: Object.assign({}, DUMPS[0]!.sysctls, {'net.ipv4.tcp_max_tw_buckets': cap, 'net.netfilter.nf_conntrack_max': conntrack})})
        expect(evaluateHost(facts, topology, RULES)).toEqual(evaluateHost(facts, topology, RULES, {exhaustive: true}))
      }),
      {numRuns: 100},
    )
  }, 120_000)
})

// Host judgement (src/rules/host-remedies.ts) is where a remedy's one-flow change goes through the
// O(1) path (changedFlow): random hosts near the test/rules/host-remedies.test.ts case, where a
// remedy applied alone can create a finding elsewhere, so judgement has something to decide.
describe('host judgement on the fast path is the definition too', () => {
  const hostFacts = (buckets: number, range: string, reuse: string): Facts => ({
    source: 't',
    kernel: parseKernel('6.8.0'),
    sysctls: {'kernel.osrelease': '6.8.0', 'net.ipv4.tcp_tw_reuse': reuse, 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_reuse_delay': '1000', 'net.ipv4.ip_local_port_range': range, 'net.ipv4.tcp_max_tw_buckets': String(buckets)},
    counters: {},
  })
  it('gives the same report as the whole-host re-run, and some hosts get a combined remedy', () => {
    let combined = 0
    fc.assert(
      fc.property(
        fc.array(fc.record({qps: fc.integer({min: 100, max: 2000}), peer: fc.constantFrom('198.18.0.10:80', '198.18.0.11:80', '198.18.0.12:6379'), closes_first: fc.constantFrom('client', 'server') as fc.Arbitrary<Flow['closes_first']>}), {minLength: 2, maxLength: 4}),
        fc.integer({min: 20_000, max: 150_000}),
        fc.constantFrom('1024 65535', '32768 60999'),
        fc.constantFrom('0', '2'),
        (flows, buckets, range, reuse) => {
          const topology: Topology = {file: 't.yaml', waivers: [], flows: flows.map((f, i) => makeFlow({name: `f${i}`, role: 'client', ...f}))}
          const facts = hostFacts(buckets, range, reuse)
          const fast = evaluateHost(facts, topology, RULES)
          expect(fast).toEqual(evaluateHost(facts, topology, RULES, {exhaustive: true}))
          if (fast.findings.some((f) => f.remedies.some((r) => r.combinedWith))) combined++
        },
      ),
      {numRuns: 60},
    )
    expect(combined).toBeGreaterThan(0)
  }, 120_000)
})
