// The CEL `host` is built as one literal (engine.ts hostContext) for speed; its definition is the
// host's model with the settings laid over it (Object.assign), key order included.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {hostParams, runModel, type HostParams} from '../../src/model/index.js'
import type {HostModel} from '../../src/model/types.js'
import {usablePorts, reservedInRange} from '../../src/model/ports.js'
import {hostContext} from '../../src/rules/engine.js'
import {factsFromDump} from '../../src/sources/dump.js'
import {sameValue} from '../../src/util/same.js'
import {makeFlow} from '../flow.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

/** The definition: the model, then the settings (-1 where a key is absent). */
function reference(params: HostParams, host: HostModel, flowCount: number): Record<string, unknown> {
  const orAbsent = (v: number | null) => (v === null ? -1 : v)
  return Object.assign({} as Record<string, unknown>, host, {
    kernel: host.kernelCode,
    kernelRelease: params.kernel?.raw ?? '',
    kernelLabel: params.kernel ? `kernel ${params.kernel.raw}` : 'an unknown kernel (assumed current)',
    twReuseDelaySource: params.twReuseDelaySource,
    kernelKnown: params.kernel !== null,
    portRangeLow: params.portRange[0],
    portRangeHigh: params.portRange[1],
    portRangeDeclared: params.portRangeDeclared,
    reservedPorts: params.reservedPorts.map(([a, b]) => [a, b]),
    unprivilegedPortStart: params.unprivilegedPortStart,
    twReuse: orAbsent(params.twReuse),
    twReuseDelayMs: params.twReuseDelayMs,
    timestamps: params.timestamps,
    maxTwBuckets: orAbsent(params.maxTwBuckets),
    rfc1337: params.rfc1337,
    twRecycle: orAbsent(params.twRecycle),
    finTimeoutSeconds: orAbsent(params.finTimeoutSeconds),
    vendorTimeWaitSeconds: orAbsent(params.vendorTimeWaitSeconds),
    conntrackTimeWaitSeconds: orAbsent(params.conntrackTimeWaitSeconds),
    timeWaitSeconds: params.timeWaitSeconds,
    usablePorts: usablePorts(params.portRange, params.reservedPorts),
    reservedInRange: reservedInRange(params.portRange, params.reservedPorts),
    flowCount,
  })
}

describe('the CEL host context', () => {
  it('is the host model with the settings laid over it, key for key and in that order', () => {
    const dumps = ['sysctl-6.18.44.txt', 'sysctl-3.10-tw-recycle.txt', 'sysctl-3.10-centos7-fragment.txt', 'sysctl-6.1.176-uml.txt']
    const flows = [makeFlow({name: 'a', role: 'client', closes_first: 'client', qps: 5000}), makeFlow({name: 'b', role: 'server', qps: 700, senders: 9})]
    for (const d of dumps) {
      const facts = factsFromDump(readFileSync(join(FIXTURES, d), 'utf8'), d)
      for (const kernel of [undefined, '4.9']) {
        const params = hostParams(facts, kernel)
        for (const host of [runModel(params, flows).host, runModel(params, []).host]) {
          const got = hostContext(params, host, 7)
          const want = reference(params, host, 7)
          expect(Object.keys(got), d).toEqual(Object.keys(want))
          expect(sameValue(got, want), d).toBe(true)
        }
      }
    }
  })

  it('the same for a host whose kernel is unknown and which reserves ports in its range', () => {
    // No kernel.osrelease and no --kernel: kernelKnown false, kernelRelease ''; reserved ports
    // 40000-40099 and 50000 inside 32768-60999 (101 of its 28,232 ports).
    const facts = {source: 'x', kernel: null, sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.ip_local_reserved_ports': '40000-40099,50000'}, counters: {}}
    const params = hostParams(facts)
    const host = runModel(params, [makeFlow({name: 'a', role: 'client', closes_first: 'client', qps: 50})]).host
    const got = hostContext(params, host, 1)
    expect(Object.keys(got)).toEqual(Object.keys(reference(params, host, 1)))
    expect(sameValue(got, reference(params, host, 1))).toBe(true)
    expect([got.kernelKnown, got.kernelRelease, got.reservedPorts, got.reservedInRange, got.usablePorts]).toEqual([false, '', [[40000, 40099], [50000, 50000]], 101, 28131])
  })
})
