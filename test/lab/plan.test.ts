import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {MAX_LAB_QPS, MAX_SENDERS, natRuleset, planLab, scaleRange} from '../../src/lab/plan.js'
import {facts, flow} from './helpers.js'

/** 198.18.0.0/15: 198.18.0.0 - 198.19.255.255, the benchmarking range (RFC 2544). */
const inBenchRange = (a: string) => /^198\.(18|19)\.\d{1,3}\.\d{1,3}$/.test(a)

describe('lab plan', () => {
  it('uses addresses from 198.18.0.0/15 only', () => {
    const plan = planLab(flow({role: 'server', senders: 5, client_addresses: 2, server_endpoints: 3, nat: {port_range: [20000, 20999], conntrack_time_wait: 120}}), facts({}))
    const addrs = [...plan.clients.flatMap((c) => [c.addr, c.gateway, c.routerAddr]), ...plan.serverAddrs, ...(plan.nat?.addresses ?? [])]
    expect(addrs.length).toBeGreaterThan(10)
    for (const a of addrs) expect(inBenchRange(a), a).toBe(true)
    const ruleset = natRuleset(plan)!
    for (const m of ruleset.matchAll(/\d+\.\d+\.\d+\.\d+/g)) expect(inBenchRange(m[0]), m[0]).toBe(true)
  })

  it('puts the host sysctls on the namespace that plays its role, and the NAT pool on the router', () => {
    const client = planLab(flow({role: 'client'}), facts({'net.ipv4.tcp_tw_reuse': '0', 'net.ipv4.ip_local_port_range': '40000 40999'}))
    expect(client.sysctls.client['net.ipv4.tcp_tw_reuse']).toBe('0')
    expect(client.sysctls.server['net.ipv4.tcp_tw_reuse']).toBeUndefined()
    expect(client.nat).toBeNull()

    const server = planLab(flow({role: 'server', senders: 2, nat: {port_range: [20000, 20099], conntrack_time_wait: 30}}), facts({'net.ipv4.tcp_rfc1337': '1'}))
    expect(server.sysctls.server['net.ipv4.tcp_rfc1337']).toBe('1')
    expect(server.sysctls.client['net.ipv4.tcp_rfc1337']).toBeUndefined()
    expect(server.nat).toEqual({addresses: ['198.19.0.1'], portRange: [20000, 20099], conntrackTimeWait: 30, mode: 'preserve'})
    expect(server.sysctls.router['net.netfilter.nf_conntrack_tcp_timeout_time_wait']).toBe('30')
    expect(natRuleset(server)).toContain('oifname "srv" ip protocol tcp masquerade to :20000-20099\n')
  })

  it('puts senders that share fewer addresses behind SNAT, spread round-robin over the addresses', () => {
    const plan = planLab(flow({role: 'server', senders: 4, client_addresses: 2, client_port_range: [32768, 60999]}), facts({}))
    expect(plan.nat?.addresses).toEqual(['198.19.0.101', '198.19.0.102'])
    const rules = natRuleset(plan)!.split('\n').filter((l) => l.includes('snat'))
    expect(rules.map((l) => /snat to (\S+):/.exec(l)![1])).toEqual(['198.19.0.101', '198.19.0.102', '198.19.0.101', '198.19.0.102'])
  })

  it('builds the NAT port mode the flow declares as the nftables rule flag', () => {
    const rule = (nat: Record<string, unknown>, addresses = 1) =>
      natRuleset(planLab(flow({role: 'server', senders: 2, client_addresses: addresses, nat: {conntrack_time_wait: 120, ...nat} as never}), facts({})))!
        .split('\n')
        .filter((l) => /masquerade|snat/.test(l))
        .map((l) => l.trim())
    // preserve: Linux's default, no flag; the kernel's own pool (1024-65535) is no range at all.
    expect(rule({port_range: [1024, 65535]})).toEqual(['oifname "srv" ip protocol tcp masquerade'])
    expect(rule({port_range: [1024, 65535], port_mode: 'preserve'})).toEqual(['oifname "srv" ip protocol tcp masquerade'])
    expect(rule({port_range: [20000, 20999], port_mode: 'random'})).toEqual(['oifname "srv" ip protocol tcp masquerade to :20000-20999 random'])
    expect(rule({port_range: [20000, 20999], port_mode: 'fully-random'})).toEqual(['oifname "srv" ip protocol tcp masquerade to :20000-20999 fully-random'])
    expect(rule({port_range: [1024, 65535], port_mode: 'fully-random'})).toEqual(['oifname "srv" ip protocol tcp masquerade fully-random'])
    // Several NAT addresses: one snat rule per sender, the same pool and flag on each.
    expect(rule({port_range: [20000, 20999], port_mode: 'fully-random'}, 2)).toEqual([
      'oifname "srv" ip saddr 198.18.1.2 ip protocol tcp snat to 198.19.0.101:20000-20999 fully-random',
      'oifname "srv" ip saddr 198.18.2.2 ip protocol tcp snat to 198.19.0.102:20000-20999 fully-random',
    ])
  })

  it('runs a loopback peer in one namespace over lo, and refuses what that cannot hold', () => {
    const plan = planLab(flow({role: 'client', peer: '127.0.0.1:8080', closes_first: 'client'}), facts({}))
    expect(plan.loopback).toBe(true)
    expect(plan.serverAddrs).toEqual(['127.0.0.1'])
    expect(plan.nat).toBeNull()
    expect(planLab(flow({role: 'client'}), facts({})).loopback).toBe(false)
    expect(() => planLab(flow({role: 'client', peer: '127.0.0.1:8080', senders: 2}), facts({}))).toThrow(/loopback/)
  })

  it('caps senders and says so; the flow as run carries the caps', () => {
    const plan = planLab(flow({role: 'server', senders: 50, nat: {port_range: [20000, 20999], conntrack_time_wait: 120}}), facts({}))
    expect(plan.clients).toHaveLength(MAX_SENDERS)
    expect(plan.flow.senders).toBe(MAX_SENDERS)
    expect(plan.notes.join(' ')).toContain(`senders 50 -> ${MAX_SENDERS}`)
  })

  it('--scale shrinks rates and port ranges by the same factor and reports it', () => {
    const f = flow({role: 'client', qps: 4000, closes_first: 'client'})
    const plan = planLab(f, facts({'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_max_tw_buckets': '262144'}), {scale: 'auto'})
    const k = MAX_LAB_QPS / 4000
    expect(plan.flow.qps).toBeCloseTo(4000 * k)
    expect(plan.scaled?.factor).toBeCloseTo(k)
    const [lo, hi] = plan.sysctls.client['net.ipv4.ip_local_port_range']!.split(' ').map(Number)
    expect(lo).toBe(32768)
    expect((hi! - lo! + 1) / 28232).toBeCloseTo(k, 2)
    expect(plan.scaled?.port_range).toEqual(['32768 60999', `${lo} ${hi}`])
    expect(plan.scaled?.tcp_max_tw_buckets).toEqual(['262144', String(Math.round(262144 * k))])
    expect(plan.phaseSeconds).toBeLessThanOrEqual(22)
  })

  it('keeps the low end and an even port count when scaling a range (both parity passes equal)', () => {
    expect(scaleRange([32768, 60999], 0.1)).toEqual([32768, 32768 + 2824 - 1])
    expect(scaleRange([1000, 1999], 0.5)).toEqual([1000, 1499])
    expect(scaleRange([1000, 1999], 1)).toEqual([1000, 1999])
  })

  it('refuses a rate the driver cannot sustain unless --scale is given', () => {
    expect(() => planLab(flow({qps: MAX_LAB_QPS * 10}), facts({}))).toThrow(TwError)
    try {
      planLab(flow({qps: MAX_LAB_QPS * 10}), facts({}))
    } catch (error) {
      expect((error as TwError).hint).toContain('--scale auto')
    }
    expect(() => planLab(flow({qps: 10}), facts({}), {scale: 2})).toThrow(/--scale/)
  })
})
