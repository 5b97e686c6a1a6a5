import {describe, expect, it} from 'vitest'

import {patchFlow} from '../../src/topology/patch.js'
import {makeFlow as flow} from '../flow.js'

describe('patchFlow: a remedy applied to a copy of the flow', () => {
  it('sets top-level and dotted nested fields, leaving the original as it was', () => {
    const original = flow({nat: {port_range: [1024, 65535], conntrack_time_wait: 120}, client_port_range: [32768, 60999]})
    const before = structuredClone(original)
    const patched = patchFlow(original, {keepalive: true, qps: 427, 'nat.port_range': [1024, 2047]})
    expect(patched).toMatchObject({keepalive: true, qps: 427, nat: {port_range: [1024, 2047], conntrack_time_wait: 120}})
    expect(original).toEqual(before)
    // Fields off the patched paths are shared, not copied.
    expect(patched.client_port_range).toBe(original.client_port_range)
    expect(patched.nat).not.toBe(original.nat)
  })

  it('creates a nested object the flow did not have', () => {
    const patched = patchFlow(flow(), {'nat.conntrack_time_wait': 60})
    expect(patched.nat).toEqual({conntrack_time_wait: 60})
    expect(flow().nat).toBeUndefined()
  })
})
