// Issue 11 item 7: a host-wide setting judged without modelling every flow again. runModelUnder
// gives the host's model under a changed tcp_max_tw_buckets or nf_conntrack_max by modelling only
// the flows whose models read what moved; it must be exactly runModel's (field by field: -0 and
// NaN count), and readsTwBucketsValue must name every flow whose model reads the cap's value.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {modelFlow, readsTwBucketsValue, runModel, runModelUnder} from '../../src/model/flow.js'
import {flowShape, hostParams, HostTotals, shapesOf, type HostParams, type ModelledHost} from '../../src/model/host.js'
import {factsFromDump} from '../../src/sources/dump.js'
import {NAT_DEFAULTS, type Flow} from '../../src/topology/types.js'
import {sameValue} from '../../src/util/same.js'
import {makeFlow} from '../flow.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')
const DUMPS = ['sysctl-6.18.44.txt', 'sysctl-3.10-tw-recycle.txt', 'sysctl-6.1.176-uml.txt'].map((f) => factsFromDump(readFileSync(join(FIXTURES, f), 'utf8'), f))

const flowArb: fc.Arbitrary<Omit<Flow, 'name'>> = fc
  .record({
    role: fc.constantFrom('client', 'server', 'nat') as fc.Arbitrary<Flow['role']>,
    closes_first: fc.constantFrom('client', 'server') as fc.Arbitrary<Flow['closes_first']>,
    qps: fc.oneof(fc.integer({min: 1, max: 20000}), fc.double({min: 0.01, max: 50, noNaN: true})),
    keepalive: fc.boolean(),
    client_addresses: fc.integer({min: 1, max: 4}),
    extraSenders: fc.integer({min: 0, max: 20}),
    server_endpoints: fc.integer({min: 1, max: 3}),
    bind: fc.boolean(),
    nat: fc.option(
      fc.record({
        lo: fc.integer({min: 1024, max: 30000}),
        span: fc.integer({min: 0, max: 30000}),
        tw: fc.integer({min: 1, max: 240}),
        kind: fc.constantFrom(undefined, 'linux', 'gcp-cloud-nat', 'aws-nat-gateway', 'azure-lb-outbound'),
      }),
      {nil: undefined},
    ),
    peer: fc.constantFrom('198.18.0.2:80', '127.0.0.1:6379', '198.18.1.9:11211'),
  })
  .map(({extraSenders, nat, role, bind, ...f}) => {
    const natSpec = nat
      ? {...NAT_DEFAULTS, port_range: [nat.lo, nat.lo + nat.span] as [number, number], conntrack_time_wait: nat.tw, ...(nat.kind ? {kind: nat.kind as NonNullable<Flow['nat']>['kind']} : {})}
      : role === 'nat'
        ? {...NAT_DEFAULTS, port_range: [1024, 65535] as [number, number], conntrack_time_wait: 120}
        : undefined
    return {...makeFlow(), ...f, role, senders: f.client_addresses + extraSenders, ...(bind && role === 'client' ? {bind_before_connect: true} : {}), ...(natSpec ? {nat: natSpec} : {})}
  })

/** A cap value: below, around or above what the flows keep, negative (an overflow share past 1: zeros turn -0), or none (-1: the key absent). */
const capArb = fc.oneof(fc.integer({min: 0, max: 5000}), fc.integer({min: 5000, max: 5_000_000}), fc.constant(-1), fc.integer({min: -50, max: -2}))

function paramsWith(d: number, cap: number, conntrack: number | null): HostParams {
  const facts = DUMPS[d]!
  const sysctls: Record<string, string> = Object.assign({}, facts.sysctls)
  if (cap === -1) delete sysctls['net.ipv4.tcp_max_tw_buckets']
  else sysctls['net.ipv4.tcp_max_tw_buckets'] = String(cap)
  if (conntrack !== null) sysctls['net.netfilter.nf_conntrack_max'] = String(conntrack)
  return hostParams(Object.assign({}, facts, {sysctls}))
}

function modelled(host: HostParams, flows: Flow[]): ModelledHost {
  const result = runModel(host, flows)
  return {
    host,
    flows,
    result,
    totals: new HostTotals(host, flows.map((f, i) => flowShape(host, f, result.flows[i]!))),
    firstPortExhaustion: (i) => modelFlow(host, flows[i]!).portExhaustion,
  }
}

describe('shapesOf: a flow\'s shape without its model, as flowShape gives it from the model', () => {
  it('is the same shape on random flows and hosts (one-flow changes account the host with it)', () => {
    fc.assert(
      fc.property(flowArb, fc.integer({min: 0, max: 2}), capArb, (f, d, cap) => {
        const host = paramsWith(d, cap, null)
        const flow = {...f, name: 'f'}
        expect(sameValue(shapesOf(host, [flow])[0], flowShape(host, flow, modelFlow(host, flow)))).toBe(true)
      }),
      {numRuns: 500},
    )
  })
})

describe('runModelUnder is runModel for a changed tcp_max_tw_buckets or nf_conntrack_max', () => {
  it('flows that readsTwBucketsValue leaves out model the same under any cap', () => {
    fc.assert(
      fc.property(flowArb, fc.integer({min: 0, max: 2}), fc.integer({min: 0, max: 1_000_000}), fc.integer({min: 0, max: 1_000_000}), fc.option(fc.double({min: 0, max: 1, noNaN: true}), {nil: undefined}), (f, d, a, b, share) => {
        const flow = {...f, name: 'f'}
        fc.pre(!readsTwBucketsValue(flow))
        const at = (cap: number) => {
          const p = paramsWith(d, cap, null)
          return modelFlow(share === undefined ? p : Object.assign({}, p, {twOverflowShare: share}), flow)
        }
        expect(sameValue(at(a), at(b))).toBe(true)
      }),
      {numRuns: 300},
    )
  })

  it('gives runModel\'s model, field by field, on random hosts', () => {
    let used = 0
    fc.assert(
      fc.property(
        fc.array(flowArb, {minLength: 1, maxLength: 8}),
        fc.integer({min: 0, max: 2}),
        capArb,
        capArb,
        fc.option(fc.integer({min: 0, max: 3_000_000}), {nil: null}),
        fc.option(fc.integer({min: 0, max: 3_000_000}), {nil: null}),
        (fs, d, capA, capB, ctA, ctB) => {
          const flows = fs.map((f, i) => ({...f, name: `f${i}`}))
          const base = modelled(paramsWith(d, capA, ctA), flows)
          const host = paramsWith(d, capB, ctB)
          const under = runModelUnder(base, host)
          const full = runModel(host, flows)
          if (under === null) return
          used++
          expect(under).toEqual(full)
          expect(sameValue(under, full)).toBe(true)
        },
      ),
      {numRuns: 400},
    )
    // Most pairs are ones it takes (same dump, cap set on both or neither).
    expect(used).toBeGreaterThan(100)
  })

  it('declines any other change (then the caller runs runModel)', () => {
    const flows = [makeFlow({name: 'a', role: 'client', closes_first: 'client', qps: 900}), makeFlow({name: 'b', role: 'server', qps: 300, senders: 8})]
    const base = modelled(paramsWith(0, 4096, null), flows)
    expect(runModelUnder(base, paramsWith(0, 2048, null))).not.toBeNull()
    // The key removed: the kernel's default estimated, a value like any other.
    expect(runModelUnder(base, paramsWith(0, -1, null))).not.toBeNull()
    // The port range, timestamps, conntrack's TIME_WAIT: each moves the flows' shapes or models.
    const facts = DUMPS[0]!
    for (const [k, v] of [['net.ipv4.ip_local_port_range', '10000 60999'], ['net.ipv4.tcp_timestamps', '0'], ['net.netfilter.nf_conntrack_tcp_timeout_time_wait', '30']] as const) {
      const sysctls = Object.assign({}, facts.sysctls, {'net.ipv4.tcp_max_tw_buckets': '4096', [k]: v})
      expect(runModelUnder(base, hostParams(Object.assign({}, facts, {sysctls}))), k).toBeNull()
    }
  })
})
