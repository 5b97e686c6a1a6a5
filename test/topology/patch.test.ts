import {describe, expect, it} from 'vitest'

import {patchFlow} from '../../src/topology/patch.js'
import {makeFlow as flow, makeFlow as makeFlowOf} from '../flow.js'

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

describe('patchFlow gives one copy per flow and patch', () => {
  it('the same patch on the same flow is the same object (the model caches by flow object); others are their own', () => {
    const f0 = makeFlowOf({name: 'a', qps: 100, nat: {port_range: [1024, 2047]}})
    const a = patchFlow(f0, {qps: 50, keepalive: true})
    expect(patchFlow(f0, {qps: 50, keepalive: true})).toBe(a)
    expect(a).toEqual({...f0, qps: 50, keepalive: true})
    expect(patchFlow(f0, {keepalive: true, qps: 50})).not.toBe(a)
    expect(patchFlow(f0, {qps: 51, keepalive: true})).not.toBe(a)
    expect(patchFlow(makeFlowOf({name: 'a', qps: 100, nat: {port_range: [1024, 2047]}}), {qps: 50, keepalive: true})).not.toBe(a)
    expect(patchFlow(f0, {'nat.port_range': [1024, 4095]})).toBe(patchFlow(f0, {'nat.port_range': [1024, 4095]}))
    expect(f0.qps).toBe(100)
  })

  it('a patch JSON cannot tell apart is applied afresh each time', () => {
    const f0 = makeFlowOf({name: 'a'})
    for (const patch of [{qps: -0}, {qps: 0}, {qps: NaN}, {qps: Infinity}, {client_port_range: [1024, undefined]}, {x: new Date(0)}] as Record<string, unknown>[]) {
      const p = patchFlow(f0, patch)
      expect(Object.is((p as unknown as Record<string, unknown>)[Object.keys(patch)[0]!], Object.values(patch)[0])).toBe(true)
    }
    expect(patchFlow(f0, {qps: -0})).not.toBe(patchFlow(f0, {qps: -0}))
    expect(Object.is(patchFlow(f0, {qps: -0}).qps, -0)).toBe(true)
    expect(Object.is(patchFlow(f0, {qps: 0}).qps, 0)).toBe(true)
  })

  it('patches that JSON writes alike never share a copy: each gets its own values', () => {
    const f0 = makeFlowOf({name: 'a'})
    const field = (p: Record<string, unknown>, k: string) => (patchFlow(f0, p) as unknown as Record<string, unknown>)[k]
    // Each pair has the same JSON text; the plain one is asked first, so a copy kept under that
    // text would come back for the other. null is plain data: one copy per flow and patch.
    expect(patchFlow(f0, {x: null})).toBe(patchFlow(f0, {x: null}))
    expect(field({x: null}, 'x')).toBeNull()
    expect(field({x: NaN}, 'x')).toBeNaN()
    // An array with a hole, or holding undefined, is written [1,null,3].
    expect(field({x: [1, null, 3]}, 'x')).toEqual([1, null, 3])
    // eslint-disable-next-line no-sparse-arrays
    expect(1 in (field({x: [1, , 3]}, 'x') as unknown[])).toBe(false)
    expect((field({x: [1, undefined, 3]}, 'x') as unknown[])[1]).toBeUndefined()
    expect(patchFlow(f0, {x: [1, undefined, 3]})).not.toBe(patchFlow(f0, {x: [1, undefined, 3]}))
    // A Date is written as its ISO text; an object with a symbol key as the object without it.
    expect(field({x: '1970-01-01T00:00:00.000Z'}, 'x')).toBe('1970-01-01T00:00:00.000Z')
    expect(field({x: new Date(0)}, 'x')).toBeInstanceOf(Date)
    const sym = Symbol('s')
    expect(field({x: {a: 1}}, 'x')).toEqual({a: 1})
    expect(Object.getOwnPropertySymbols(field({x: {a: 1, [sym]: 2}}, 'x') as object)).toEqual([sym])
    // An undefined value is left out of the JSON: {x: undefined} is not the empty patch.
    expect('x' in patchFlow(f0, {})).toBe(false)
    expect('x' in patchFlow(f0, {x: undefined})).toBe(true)
  })
})
