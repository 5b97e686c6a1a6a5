import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hostParams, runModel} from '../../src/model/index.js'
import {FLOW_DEFAULTS, type Flow} from '../../src/topology/types.js'

const flow: Flow = {...FLOW_DEFAULTS, name: 'f', role: 'client', peer: '198.18.0.2:80', qps: 1, closes_first: 'server'}

describe('model edges', () => {
  it('with every first-parity port reserved, connect() uses the other parity (no 100 % collision at 1 conn/s)', () => {
    // 40000-40099 with all even ports reserved: 50 odd ports remain for the second pass.
    const evens = Array.from({length: 50}, (_, i) => String(40000 + 2 * i)).join(',')
    const params = hostParams({
      source: 't',
      kernel: parseKernel('6.8.0'),
      sysctls: {'net.ipv4.ip_local_port_range': '40000 40099', 'net.ipv4.ip_local_reserved_ports': evens},
      counters: {},
    })
    const m = runModel(params, [flow]).flows[0]!
    expect(m.firstParityPorts).toBe(0)
    expect(m.usablePorts).toBe(50)
    expect(m.reuseIntervalConnects).toBe(50)
    // 1 conn/s × 60 s over 50 ports: 1 − exp(−60/50) ≈ 70 %, not 100 %.
    expect(m.collisionShare).toBeCloseTo(1 - Math.exp(-60 / 50), 6)
  })
})
