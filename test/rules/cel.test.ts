import {describe, expect, it} from 'vitest'

import {compile, Expressions, fillTemplate, formatNumber, formatPercent, templateExpressions, toPlain} from '../../src/rules/cel.js'
import {buildReport, exitCodeFor} from '../../src/rules/report.js'
import type {Finding, HostReport} from '../../src/rules/types.js'

// How rule messages print numbers (src/rules/cel.ts) and how findings become an exit code
// (src/rules/report.ts): the figures users read and CI acts on.

describe('formatNumber and formatPercent', () => {
  it('groups thousands; 0 decimals from 100, 1 from 10, 2 from 1, 3 below; trailing zeros dropped', () => {
    expect(formatNumber(28232)).toBe('28,232')
    expect(formatNumber(1234567)).toBe('1,234,567')
    expect(formatNumber(470.53)).toBe('471')
    expect(formatNumber(12.34)).toBe('12.3')
    expect(formatNumber(1.5)).toBe('1.5')
    expect(formatNumber(1.234)).toBe('1.23')
    expect(formatNumber(0.01234)).toBe('0.012')
    expect(formatNumber(0.0001)).toBe('0')
    expect(formatNumber(5)).toBe('5')
    expect(formatNumber(0)).toBe('0')
    expect(formatNumber(-1234.4)).toBe('-1,234')
    expect(formatNumber(-0.5)).toBe('-0.5')
    expect(formatNumber(Infinity)).toBe('unlimited')
    expect(formatNumber(-Infinity)).toBe('-unlimited')
    expect(formatNumber(NaN)).toBe('unknown')
  })

  it('percent: whole from 10 % (and 0), one decimal from 1 %, two significant digits below', () => {
    expect(formatPercent(0.35)).toBe('35 %')
    // 0.1 × 100 is exactly 10 in binary floating point.
    expect(formatPercent(0.1)).toBe('10 %')
    expect(formatPercent(0.0097)).toBe('0.97 %')
    expect(formatPercent(0.0449)).toBe('4.5 %')
    expect(formatPercent(0)).toBe('0 %')
    // Issue 10's Why B: 0.0193 % predicted to stall against the 0.1 % budget (was "0.0 %").
    expect(formatPercent(0.000193)).toBe('0.019 %')
    expect(formatPercent(0.001)).toBe('0.1 %')
    expect(formatPercent(0.00999)).toBe('1.0 %')
    expect(formatPercent(1)).toBe('100 %')
  })
})

describe('templates', () => {
  const ctx = {flow: {qps: 28232n, name: 'to-cache', range: [32768n, 60999n], names: ['a', 'b']}, model: {share: 0.5}}

  it('finds each {{ expr }} once per occurrence, trimmed', () => {
    expect(templateExpressions('a {{ flow.qps }} b {{model.share}} c {{ flow.qps }}')).toEqual(['flow.qps', 'model.share', 'flow.qps'])
    expect(templateExpressions('no placeholders')).toEqual([])
  })

  it('fills numbers and lists for people (28,232; 32,768–60,999) or raw for sysctl values (28232; 32768 60999)', () => {
    const c = new Expressions()
    expect(fillTemplate('{{ flow.qps }}/s to {{ flow.name }}, {{ flow.range }}, {{ model.share }}', ctx, c, true)).toBe('28,232/s to to-cache, 32,768–60,999, 0.5')
    expect(fillTemplate('{{ flow.qps }} {{ flow.range }} {{ flow.name }}', ctx, c, false)).toBe('28232 32768 60999 to-cache')
    expect(fillTemplate('{{ flow.names }}', ctx, c, true)).toBe('a–b')
    expect(fillTemplate('{{ flow.names }}', ctx, c, false)).toBe('a b')
  })

  it('compiles an expression once and reuses it', () => {
    const c = new Expressions()
    expect(c.has('1 + 1')).toBe(false)
    const fn = c.get('1 + 1')
    expect(c.has('1 + 1')).toBe(true)
    expect(c.get('1 + 1')).toBe(fn)
    const mine = compile('2 + 2')
    c.add('2 + 2', mine)
    expect(c.get('2 + 2')).toBe(mine)
    expect(toPlain(c.get('2 + 2')({}))).toBe(4)
  })

  it('CEL ints, lists and maps come back as plain JSON data', () => {
    expect(toPlain(5n)).toBe(5)
    expect(toPlain([1n, [2n], 'x'])).toEqual([1, [2], 'x'])
    expect(toPlain(new Map<string, unknown>([['a', 1n], ['b', [2n]]]))).toEqual({a: 1, b: [2]})
    expect(toPlain(compile('kv("5.18") > kv("5.4")')({}))).toBe(true)
    expect(toPlain(compile('fmt(28232) + " " + fmt(0.5) + " " + pct(0.35)')({}))).toBe('28,232 0.5 35 %')
  })
})

describe('report: counts and exit codes', () => {
  const f = (severity: Finding['severity'], waived?: string): Finding => ({id: 'x', severity, title: 'x', message: 'x', evidence: {}, remedies: [], references: [], ...(waived ? {waived: {reason: waived}} : {})})
  const h = (findings: Finding[], extra: Partial<HostReport> = {}): HostReport => ({host: 'h', kernel: null, source: 's', findings, ...extra})

  it('counts unwaived findings by severity across hosts', () => {
    const r = buildReport([h([f('critical'), f('warning'), f('warning', 'known')]), h([f('info'), f('critical')])])
    expect(r.summary).toEqual({critical: 2, warning: 1, info: 1})
    expect(r.hosts).toHaveLength(2)
  })

  it('2 at or above --fail-on, else 1 when a host could not be evaluated, else 0', () => {
    const warn = buildReport([h([f('warning'), f('critical', 'waived')])])
    expect(exitCodeFor(warn, 'warning')).toBe(2)
    expect(exitCodeFor(warn, 'info')).toBe(2)
    expect(exitCodeFor(warn, 'critical')).toBe(0)
    const broken = buildReport([h([f('info')]), h([], {error: {code: 'e', message: 'm'}})])
    expect(exitCodeFor(broken, 'warning')).toBe(1)
    expect(exitCodeFor(broken, 'info')).toBe(2)
    expect(exitCodeFor(buildReport([h([])]), 'info')).toBe(0)
  })
})
