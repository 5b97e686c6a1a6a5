import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {hostParams} from '../../src/model/host.js'
import {assumptionsFor} from '../../src/model/predict.js'
import type {Flow, NatSpec} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

// What a prediction assumed because the topology did not say it (src/model/predict.ts,
// assumptionsFor): each one only where the model used the guess.

const host = (kernel: string | null = '6.8.0') =>
  hostParams({source: 't', kernel: kernel === null ? null : parseKernel(kernel), sysctls: {'net.ipv4.ip_local_port_range': '32768 60999'}, counters: {}})
const nat = (over: Partial<NatSpec> = {}): NatSpec => ({port_range: [40000, 40999], conntrack_time_wait: 120, port_mode: 'preserve', ...over})
const TAGS: [RegExp, string][] = [
  [/clients run this host's kernel/, 'client-kernel'],
  [/clients send TCP timestamps/, 'client-timestamps'],
  [/server uses the kernel defaults/, 'server-defaults'],
  [/NAT runs 6\.5 or later/, 'nat-6.5'],
  [/default ip_local_port_range 32768-60999/, 'client-range'],
  [/senders share the addresses/, 'senders-share'],
]
const tags = (f: Partial<Flow>, kernel?: string | null) =>
  assumptionsFor(host(kernel), makeFlow(f)).map((s) => TAGS.find(([re]) => re.test(s))?.[1] ?? s)

describe('assumptionsFor', () => {
  it('a server that closes first, direct clients: their kernel, timestamps and port range', () => {
    expect(tags({role: 'server', closes_first: 'server'})).toEqual(['client-kernel', 'client-timestamps', 'client-range'])
    expect(assumptionsFor(host(), makeFlow({role: 'server', closes_first: 'server'}))[0]).toContain('(6.8.0)')
    expect(assumptionsFor(host(null), makeFlow({role: 'server', closes_first: 'server'}))[0]).toContain('(unknown, taken as current)')
  })

  it('nothing when the topology says it all', () => {
    expect(tags({role: 'server', closes_first: 'server', client_kernel: '6.1', client_timestamps: 1, client_port_range: [40000, 40999]})).toEqual([])
    expect(tags({role: 'server', closes_first: 'client'})).toEqual([])
    expect(tags({role: 'client', closes_first: 'client'})).toEqual([])
  })

  it('a client whose server closes first, behind a NAT: the server\'s defaults and the NAT\'s kernel', () => {
    expect(tags({role: 'client', closes_first: 'server', nat: nat()})).toEqual(['server-defaults', 'nat-6.5'])
    expect(tags({role: 'client', closes_first: 'server', nat: nat({kernel: '6.1'})})).toEqual(['server-defaults'])
  })

  it('the NAT box itself: the clients\' kernel and the senders\' share, not its own kernel', () => {
    expect(tags({role: 'nat', closes_first: 'client', senders: 4, client_addresses: 1, nat: nat({port_mode: 'random'})})).toEqual(['client-kernel', 'senders-share'])
    expect(tags({role: 'nat', closes_first: 'client', senders: 4, client_addresses: 4, nat: nat({port_mode: 'random'})})).toEqual(['client-kernel'])
  })

  it('a server behind a preserving NAT where the client closes: their kernel and range, not their timestamps', () => {
    expect(tags({role: 'server', closes_first: 'client', nat: nat({kernel: '6.1'})})).toEqual(['client-kernel', 'client-range'])
    expect(tags({role: 'server', closes_first: 'client', nat: nat({kernel: '6.1', port_mode: 'fully-random'})})).toEqual(['client-kernel'])
    expect(tags({role: 'server', closes_first: 'client', nat: nat({kernel: '6.1'}), client_port_range: [1024, 65535]})).toEqual(['client-kernel'])
  })
})
