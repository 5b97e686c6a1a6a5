import {Environment, type ParseResult} from '@marcbachmann/cel-js'

import {kernelCode, parseKernel} from '../facts/kernel.js'

/**
 * The one expression language of rule files: CEL (no eval, no code in YAML). Variables:
 *   flow    the declared flow (topology fields, plus behind_nat)
 *   model   the model's numbers for that flow (src/model/types.ts FlowModel)
 *   host    the host's settings (-1 where the key is absent) and host-wide model numbers
 *   sysctl  every sysctl the source had, dotted keys, string values
 *   counters kernel counters when the source had them (TcpExtTWRecycled, ...)
 * Functions: kv("5.18") orders kernel versions (compare with host.kernel); fmt(x) and pct(x)
 * format numbers for messages.
 */
export const celEnv = new Environment({unlistedVariablesAreDyn: true})
  .registerFunction('kv(string): double', (s: string) => kernelCode(parseKernel(s)))
  .registerFunction('fmt(double): string', (x: number) => formatNumber(x))
  .registerFunction('fmt(int): string', (x: bigint) => formatNumber(Number(x)))
  .registerFunction('pct(double): string', (x: number) => formatPercent(x))

export type Compiled = ParseResult

export function compile(expr: string): Compiled {
  return celEnv.parse(expr)
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'unlimited' : '-unlimited'
  if (Number.isInteger(x)) return x.toLocaleString('en-US')
  const abs = Math.abs(x)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return x.toLocaleString('en-US', {maximumFractionDigits: digits})
}

export function formatPercent(x: number): string {
  const p = x * 100
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)} %`
}

/** CEL ints come back as bigint; everything leaving the engine is plain JSON data. */
export function toPlain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(toPlain)
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toPlain(x)]))
  return v
}

const TEMPLATE = /\{\{\s*(.+?)\s*\}\}/g

/** The `{{ expr }}` placeholders of a template, for compiling once at load time. */
export function templateExpressions(template: string): string[] {
  return [...template.matchAll(TEMPLATE)].map((m) => m[1]!)
}

/**
 * Fill `{{ expr }}` placeholders. `human` formats numbers for reading (36,000); otherwise
 * values are raw (sysctl values: 36000, lists as "32768 60999").
 */
export function fillTemplate(template: string, ctx: Record<string, unknown>, compiled: Map<string, Compiled>, human: boolean): string {
  return template.replace(TEMPLATE, (_, expr: string) => {
    const fn = compiled.get(expr) ?? compile(expr)
    const v = toPlain(fn(ctx))
    if (typeof v === 'number') return human ? formatNumber(v) : String(Math.round(v) === v ? v : v)
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'number' && human ? formatNumber(x) : String(x))).join(human ? '–' : ' ')
    return String(v)
  })
}
