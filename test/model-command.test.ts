import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import type {Facts} from '../src/facts/types.js'
import {buildModelView, renderChart, renderModelText, riskShare} from '../src/render/chart.js'
import type {Flow, Topology} from '../src/topology/types.js'

const facts: Facts = {
  source: 'test',
  kernel: {major: 6, minor: 8, patch: 0, raw: '6.8.0'},
  sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_timestamps': '1'},
  counters: {},
}
const clientFlow: Flow = {name: 'to-api', role: 'client', peer: '10.0.1.10:8080', qps: 600, closes_first: 'client', keepalive: false, client_addresses: 1, senders: 1, server_endpoints: 1}
const topo = (flows: Flow[]): Topology => ({file: 'test.yaml', waivers: [], flows})

describe('model view and chart', () => {
  it('predicts no failures below the safe rate and 1 - safe/qps above it (client closes first)', () => {
    const view = buildModelView(facts, topo([clientFlow]), new Map())
    const v = view.flows[0]!
    // 28232 ports / 60 s = 470.5 connections/s.
    expect(v.model.safeQps).toBeCloseTo(28232 / 60)
    expect(riskShare(v.model)).toBeCloseTo(1 - 28232 / 60 / 600)
    const [series] = v.chart.series
    const safe = 28232 / 60
    v.chart.qps.forEach((q, i) => expect(series!.risk[i]).toBeCloseTo(q <= safe ? 0 : 1 - safe / q))
  })

  it('draws a remedy that the model clears as its own curve, flat at 0 over the declared rate', () => {
    const remedies = new Map([['to-api', [{id: 'client-port-exhaustion', sysctl: {'net.ipv4.tcp_tw_reuse': '1'}}]]])
    const view = buildModelView(facts, topo([clientFlow]), remedies)
    const v = view.flows[0]!
    expect(v.remedies[0]!.model.portExhaustion).toBe(false)
    const remedied = v.chart.series[1]!
    expect(remedied.label).toBe('net.ipv4.tcp_tw_reuse=1')
    v.chart.qps.forEach((q, i) => {
      if (q <= clientFlow.qps) expect(remedied.risk[i]).toBe(0)
    })
    const text = renderModelText(view)
    expect(text).toContain('600 declared')
    expect(text).toContain('* current settings')
    expect(text).toContain('a net.ipv4.tcp_tw_reuse=1')
  })

  it('--flow narrows what is shown, not the host: its TIME_WAIT total still counts every declared flow', () => {
    const other: Flow = {...clientFlow, name: 'to-db', peer: '10.0.1.11:5432', qps: 100}
    const view = buildModelView(facts, topo([clientFlow, other]), new Map(), 'to-db')
    expect(view.flows.map((v) => v.flow.name)).toEqual(['to-db'])
    // Both flows close on this host: to-api's 600/s × 60 s = 36,000 is bounded by its 28,232 ports
    // toward one destination; to-db adds 100/s × 60 s = 6,000: 34,232 tuples.
    expect(view.host.timeWaitTuples).toBe(34_232)
    expect(renderModelText(view, {chart: false})).toContain('this host keeps 34232 TIME_WAIT tuples for its 2 declared flows')
  })

  it('a remedy row says which finding it clears (as check verified), then what the flow looks like', () => {
    const remedies = new Map([['to-api', [{id: 'client-port-exhaustion', sysctl: {'net.ipv4.tcp_tw_reuse': '1'}}]]])
    const text = renderModelText(buildModelView(facts, topo([clientFlow]), remedies), {chart: false})
    expect(text).toMatch(/with client-port-exhaustion\s+net\.ipv4\.tcp_tw_reuse=1: clears client-port-exhaustion; the flow then: no pressure/)
  })

  it('benign collisions (one Linux sender) are no risk on the chart', () => {
    const f: Flow = {...clientFlow, closes_first: 'server', qps: 2000}
    const view = buildModelView(facts, topo([f]), new Map())
    expect(view.flows[0]!.model.benignCollisions).toBe(true)
    expect(view.flows[0]!.chart.series[0]!.risk.every((x) => x === 0)).toBe(true)
  })

  it('marks the declared rate and labels the axes', () => {
    const chart = renderChart({title: 't', xMax: 100, mark: 50, width: 20, height: 4, series: [{label: 'step', glyph: '*', y: (q) => (q > 50 ? 1 : 0)}]})
    const lines = chart.split('\n')
    expect(lines[1]).toMatch(/^ 100% \|\s+:?\*+$/)
    expect(chart).toContain('50 declared')
    expect(chart).toContain('* step')
  })
})

describe('twadvisor model (built CLI)', () => {
  const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url))
  it('prints the numbers per flow as one JSON object with --json', () => {
    if (!existsSync(fileURLToPath(new URL('../dist/bundle', import.meta.url)))) throw new Error('run `npm run build` first (npm test does)')
    const dir = mkdtempSync(join(tmpdir(), 'twmodel-'))
    writeFileSync(join(dir, 't.yaml'), 'flows:\n  - {name: to-api, role: client, peer: "10.0.1.10:8080", qps: 600, closes_first: client}\n')
    writeFileSync(join(dir, 's.txt'), 'kernel.osrelease = 6.8.0\nnet.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.tcp_tw_reuse = 2\n')
    const out = JSON.parse(execFileSync(process.execPath, [bin, 'model', '-t', join(dir, 't.yaml'), '-s', join(dir, 's.txt'), '--json'], {encoding: 'utf8'})) as {
      flows: {flow: string; usablePorts: number; safeQps: number; portExhaustion: boolean; chart: {series: unknown[]}}[]
    }
    expect(out.flows[0]!.flow).toBe('to-api')
    expect(out.flows[0]!.usablePorts).toBe(28232)
    expect(out.flows[0]!.safeQps).toBeCloseTo(470.53, 1)
    expect(out.flows[0]!.portExhaustion).toBe(true)
    expect(out.flows[0]!.chart.series.length).toBeGreaterThan(1)
  })
})
