import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {azureDefaultPorts, cloudNatQuota, isCloudNat} from '../../src/model/cloud-nat.js'
import {runModel} from '../../src/model/flow.js'
import {hostParams, type HostParams} from '../../src/model/host.js'
import {natWithDefaults} from '../../src/topology/load.js'
import type {Flow, NatSpec} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

// Cloud NAT quotas (src/model/cloud-nat.ts, with the providers' pages it cites): capacity toward
// one destination = quota × units × server endpoints / hold seconds; a remedy aims 10 % above the
// rate (REMEDY_HEADROOM), so it needs qps × 1.1 × hold slots. The host model applies it (modelHost).

// A function, not a module-level value: hostParams() at import runs outside any test, which makes
// the host-model mutants it reaches static for Stryker (docs/mutation.md).
const host = () => hostParams({source: 't', kernel: parseKernel('6.8.0'), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999'}, counters: {}})
const modelFlow = (h: HostParams, f: Flow) => runModel(h, [f]).flows[0]!
const cloud = (nat: Partial<NatSpec>, over: Partial<Flow> = {}): Flow =>
  makeFlow({role: 'client', closes_first: 'server', nat: natWithDefaults({port_range: [1024, 65535], ...nat}), ...over})

describe('cloud NAT quotas', () => {
  it('Azure default ports per instance by backend pool size, 32 past 1,000 instances', () => {
    expect([1, 50, 51, 100, 101, 200, 201, 400, 401, 800, 801, 1000, 1001, 5000].map(azureDefaultPorts)).toEqual([1024, 1024, 512, 512, 256, 256, 128, 128, 64, 64, 32, 32, 32, 32])
  })

  it('a Linux NAT or none is not a cloud NAT and has no quota', () => {
    expect([isCloudNat(undefined), isCloudNat('linux'), isCloudNat('gcp-cloud-nat')]).toEqual([false, false, true])
    expect(cloudNatQuota(makeFlow())).toBeNull()
    expect(cloudNatQuota(cloud({kind: 'linux'}))).toBeNull()
    const m = modelFlow(host(), cloud({kind: 'linux'}))
    expect([m.natKind, m.cloudNatQuota, m.cloudNatCapacityQps, m.cloudNatExhausted]).toEqual(['linux', null, null, false])
    expect(modelFlow(host(), cloud({})).natKind).toBe('linux')
    expect(modelFlow(host(), makeFlow()).natKind).toBeNull()
  })

  it('defaults and declared values per provider; only GCP publishes its hold time', () => {
    expect(cloudNatQuota(cloud({kind: 'gcp-cloud-nat'}))).toEqual({quota: 64, unit: 'vm', holdSeconds: 120, holdAssumed: false})
    expect(cloudNatQuota(cloud({kind: 'gcp-cloud-nat', ports_per_vm: 1024, time_wait_seconds: 30}))).toEqual({quota: 1024, unit: 'vm', holdSeconds: 30, holdAssumed: false})
    expect(cloudNatQuota(cloud({kind: 'aws-nat-gateway'}))).toEqual({quota: 55000, unit: 'nat-address', holdSeconds: 120, holdAssumed: true})
    expect(cloudNatQuota(cloud({kind: 'aws-nat-gateway', time_wait_seconds: 60}))).toEqual({quota: 55000, unit: 'nat-address', holdSeconds: 60, holdAssumed: false})
    expect(cloudNatQuota(cloud({kind: 'azure-lb-outbound'}, {senders: 60}))).toEqual({quota: 512, unit: 'instance', holdSeconds: 240, holdAssumed: true})
    expect(cloudNatQuota(cloud({kind: 'azure-lb-outbound', ports_per_instance: 100, time_wait_seconds: 10}, {senders: 60}))).toEqual({quota: 100, unit: 'instance', holdSeconds: 10, holdAssumed: false})
  })

  it('GCP, 2 VMs, 64 ports each, 120 s: 64 × 2 / 120 = 1.067/s; at 5/s it needs 330 ports per VM or 11 VMs', () => {
    const m = modelFlow(host(), cloud({kind: 'gcp-cloud-nat'}, {senders: 2, qps: 5}))
    expect(m.cloudNatQuota).toBe(64)
    expect(m.cloudNatHoldSeconds).toBe(120)
    expect(m.cloudNatQuotaUnits).toBe(2)
    expect(m.cloudNatCapacityQps).toBeCloseTo(128 / 120, 12)
    expect(m.natCapacityQps).toBeCloseTo(128 / 120, 12)
    expect(m.cloudNatExhausted).toBe(true)
    expect(m.natExhausted).toBe(false)
    // 5 × 1.1 × 120 = 660 slots: ceil(660 / 2) = 330 ports per VM, or ceil(660 / 64) = 11 VMs' worth.
    expect(m.cloudNatQuotaNeeded).toBe(330)
    expect(m.cloudNatUnitsNeeded).toBe(11)
    expect(m.safeQps).toBeCloseTo(128 / 120, 12)
    expect(m.targetQps).toBeCloseTo(128 / 120 / 1.1, 12)
    expect(m.margin).toBeCloseTo(5 / (128 / 120), 12)
  })

  it("a flow with no limit of its own gets the quota's: one VM, 64 ports / 120 s = 0.533/s", () => {
    // One sender whose ports the NAT keeps (no remaps), the server closing: no collisions that
    // stall, no client limit: the gateway's quota is the only limit.
    const m = modelFlow(host(), cloud({kind: 'gcp-cloud-nat'}, {senders: 1, qps: 0.1}))
    expect(m.cloudNatCapacityQps).toBeCloseTo(64 / 120, 12)
    expect(m.safeQps).toBeCloseTo(64 / 120, 12)
    expect(m.targetQps).toBeCloseTo(64 / 120 / 1.1, 12)
    expect(m.margin).toBeCloseTo(0.1 / (64 / 120), 12)
  })

  it('two server endpoints double the capacity: the quota is per destination', () => {
    const m = modelFlow(host(), cloud({kind: 'gcp-cloud-nat'}, {senders: 2, qps: 5, server_endpoints: 2}))
    expect(m.cloudNatCapacityQps).toBeCloseTo(256 / 120, 12)
    // 660 slots over 2 endpoints: ceil(660 / (2 × 2)) = 165 ports per VM; ceil(660 / (64 × 2)) = 6 VMs.
    expect(m.cloudNatQuotaNeeded).toBe(165)
    expect(m.cloudNatUnitsNeeded).toBe(6)
  })

  it('AWS counts per NAT address: 55,000 / 120 s = 458.3/s per address; at 500/s, 2 addresses', () => {
    const m = modelFlow(host(), cloud({kind: 'aws-nat-gateway'}, {senders: 8, client_addresses: 1, qps: 500}))
    expect(m.cloudNatQuotaUnits).toBe(1)
    expect(m.cloudNatCapacityQps).toBeCloseTo(55000 / 120, 9)
    expect(m.cloudNatExhausted).toBe(true)
    // 500 × 1.1 × 120 = 66,000 slots: 66,000 connections per address, or ceil(66,000 / 55,000) = 2 addresses.
    expect(m.cloudNatQuotaNeeded).toBe(66000)
    expect(m.cloudNatUnitsNeeded).toBe(2)
  })

  it('Azure within its quota: 60 instances × 512 / 240 s = 128/s carries 100/s, nothing needed', () => {
    const m = modelFlow(host(), cloud({kind: 'azure-lb-outbound'}, {senders: 60, client_addresses: 1, qps: 100}))
    expect(m.cloudNatCapacityQps).toBe(128)
    expect(m.cloudNatExhausted).toBe(false)
    expect(m.cloudNatQuotaNeeded).toBeNull()
    expect(m.cloudNatUnitsNeeded).toBeNull()
    // The gateway's 128/s is below what the flow's own model allows through a Linux NAT on the same
    // pool (1,736/s): the quota is the limit. 100 / 128 = 0.78; target 128 / 1.1 = 116.4.
    expect(m.safeQps).toBe(128)
    expect(m.margin).toBeCloseTo(100 / 128, 12)
    expect(m.targetQps).toBeCloseTo(128 / 1.1, 12)
    // Exactly at capacity is not exhausted.
    expect(modelFlow(host(), cloud({kind: 'azure-lb-outbound'}, {senders: 60, client_addresses: 1, qps: 128})).cloudNatExhausted).toBe(false)
  })

  it('a quota above the flow\'s own limit leaves that limit: 60 VMs × 60,000 ports / 120 s = 30,000/s, but the client\'s ports give out at 28,232 / 60 s = 470.5/s', () => {
    const m = modelFlow(host(), cloud({kind: 'gcp-cloud-nat', ports_per_vm: 60000}, {role: 'client', closes_first: 'client', senders: 60, qps: 600}))
    expect(m.cloudNatCapacityQps).toBe(30000)
    expect(m.cloudNatExhausted).toBe(false)
    expect(m.safeQps).toBeCloseTo(28232 / 60, 9)
    expect(m.margin).toBeCloseTo(600 / (28232 / 60), 9)
  })
})
