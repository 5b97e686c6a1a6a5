import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {modelFlow} from '../../src/model/flow.js'
import {hostParams, type HostParams} from '../../src/model/host.js'
import {predictFlow, safeRate} from '../../src/model/predict.js'
import {makeFlow, type TestFlow} from '../flow.js'

// safe_qps (src/model/predict.ts): the largest rate whose stall share stays within the budget,
// found by bisection to a relative 1e-6, and remembered per (host settings, flow, budget).

function host(sysctls: Record<string, string> = {}): HostParams {
  return hostParams({
    source: 'test',
    kernel: parseKernel('6.18.44'),
    sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_timestamps': '1', ...sysctls},
    counters: {},
  })
}
const shared = (over: TestFlow = {}) => makeFlow({role: 'server', closes_first: 'server', qps: 100, senders: 4, ...over})

/** 4 senders behind 1 address toward a 6.18 server, clients on the default range (14,116 even ports). */
function crossing(budget: number, rfc1337: boolean): number {
  // c(q) = 1 − exp(−60·q / 14116); x = 3/8 · c (3 of 4 senders unrelated, rejected half the time).
  // rfc1337=0: r = x / (1 + x) and stall = r² (PAWS: the resend is judged afresh), so at the
  // budget r = √b, x = r / (1 − r). rfc1337=1 (the rate-limited ACKs left out): stall = x², x = √b.
  const r = Math.sqrt(budget)
  const x = rfc1337 ? r : r / (1 - r)
  return (-Math.log(1 - x / 0.375) * 14116) / 60
}

describe('safeRate: bisection on a stall share that rises with the rate', () => {
  it('finds a step at 7 conn/s to a relative 1e-6, from below (the rate returned is within the budget)', () => {
    const step = (q: number) => (q > 7 ? 1 : 0)
    for (const start of [1, 7, 100, 1e-6]) {
      const s = safeRate(step, 0.5, start)!
      expect(s, String(start)).toBeLessThanOrEqual(7)
      expect(s, String(start)).toBeGreaterThanOrEqual(7 * (1 - 2e-6))
    }
  })

  it('null when even 10^9 conn/s stays within the budget; a limit just under it is found', () => {
    expect(safeRate(() => 0, 0.001, 1)).toBeNull()
    expect(safeRate((q) => (q > 2e9 ? 1 : 0), 0.5, 1)).toBeNull()
    // Doubling from 1 brackets 9e8 between 2^29 and 2^30.
    const s = safeRate((q) => (q > 9e8 ? 1 : 0), 0.5, 1)!
    expect(s).toBeLessThanOrEqual(9e8)
    expect(s).toBeGreaterThanOrEqual(9e8 * (1 - 2e-6))
  })

  it('a stall share exactly at the budget is within it: at 10^9 conn/s that is no limit', () => {
    expect(safeRate((q) => (q >= 1e9 ? 0.5 : 0), 0.5, 1)).toBeNull()
    // ... and a step to exactly the budget below 10^9 is no step.
    expect(safeRate((q) => (q > 7 ? 0.5 : 0), 0.5, 1)).toBeNull()
  })

  it('a limit of 0 (no rate is safe) comes out as 0 within 1e-9 conn/s', () => {
    const s = safeRate((q) => (q > 0 ? 1 : 0), 0.5, 5)!
    expect(s).toBe(0)
    // A limit far below the first bracket, 1e-5 conn/s: absolute 1e-9 below 1e-3 / 2^k.
    const t = safeRate((q) => (q > 1e-5 ? 1 : 0), 0.5, 1)!
    expect(t).toBeLessThanOrEqual(1e-5)
    expect(t).toBeGreaterThanOrEqual(1e-5 - 1e-9)
  })

  it('a smooth stall share: the model\'s safe_qps is the analytic crossing to 1e-6', () => {
    const want = crossing(0.001, false)
    const got = modelFlow(host(), shared()).safeQps!
    expect(got).toBeLessThanOrEqual(want * (1 + 1e-9))
    expect(got).toBeGreaterThanOrEqual(want * (1 - 2e-6))
    expect(predictFlow(host(), shared()).safe_qps).toBe(got)
  })
})

describe('safe_qps remembered per settings, flow and budget', () => {
  it('the same flow object on a server with tcp_rfc1337=1 gets its own crossing, not the first host\'s', () => {
    const f = shared()
    const plain = modelFlow(host(), f).safeQps!
    const strict = modelFlow(host({'net.ipv4.tcp_rfc1337': '1'}), f).safeQps!
    // rfc1337=1: x = √0.001 at the budget instead of √b / (1 − √b): a lower rate (the rate-limited
    // ACKs only lower it further, by under 0.1 %).
    expect(plain).toBeGreaterThanOrEqual(crossing(0.001, false) * (1 - 2e-6))
    expect(strict).toBeLessThanOrEqual(crossing(0.001, true) * (1 + 1e-9))
    expect(strict).toBeGreaterThan(crossing(0.001, true) * 0.999)
    expect(strict).toBeLessThan(plain)
    // And back: the first host's crossing is still its own.
    expect(modelFlow(host(), f).safeQps).toBe(plain)
  })

  it('the same client flow object on hosts with other port ranges: each its own crossing', () => {
    // A client (this host picks the ports) from 4 senders behind its address, 100/s: the
    // crossing scales with the even ports: 14,116 on 32768-60999, 500 on 40000-40999.
    const f = makeFlow({role: 'client', closes_first: 'server', qps: 100, senders: 4})
    const wide = modelFlow(host(), f).safeQps!
    const narrow = modelFlow(host({'net.ipv4.ip_local_port_range': '40000 40999'}), f).safeQps!
    expect(wide).toBeGreaterThanOrEqual(crossing(0.001, false) * (1 - 2e-6))
    expect(narrow).toBeGreaterThanOrEqual(((crossing(0.001, false) * 500) / 14116) * (1 - 2e-6))
    expect(narrow).toBeLessThanOrEqual(((crossing(0.001, false) * 500) / 14116) * (1 + 1e-9))
  })

  it('the same flow under tcp_max_tw_buckets: 1,000 of 14,116 tuples cap c at 0.0708, within the budget', () => {
    const f = shared()
    expect(modelFlow(host(), f).safeQps).not.toBeNull()
    // bucketCap: c ≤ 1000 / 14116 = 0.0708 < c at the budget (0.0871) at any rate: no limit.
    expect(modelFlow(host({'net.ipv4.tcp_max_tw_buckets': '1000'}), f).safeQps).toBeNull()
  })

  it('the same flow and host under another budget', () => {
    const f = shared()
    const h = host()
    const strict = modelFlow(h, f).safeQps!
    const loose = modelFlow(h, f, {harmBudget: 0.01}).safeQps!
    expect(loose).toBeGreaterThanOrEqual(crossing(0.01, false) * (1 - 2e-6))
    expect(loose).toBeLessThanOrEqual(crossing(0.01, false) * (1 + 1e-9))
    expect(modelFlow(h, f).safeQps).toBe(strict)
    // A flow's own harm_budget counts as its budget too.
    expect(modelFlow(h, {...f, harm_budget: 0.01}).safeQps).toBe(loose)
  })
})
