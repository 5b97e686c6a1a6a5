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

/** A rule's expressions, compiled once each: up front when checked, or on first use. */
export class Expressions {
  private readonly cache = new Map<string, Compiled>()

  add(expr: string, fn: Compiled): void {
    this.cache.set(expr, fn)
  }

  has(expr: string): boolean {
    return this.cache.has(expr)
  }

  get(expr: string): Compiled {
    let fn = this.cache.get(expr)
    if (!fn) this.cache.set(expr, (fn = compile(expr)))
    return fn
  }
}

export function formatNumber(x: number): string {
  // NaN is a model defect; print it as unknown rather than as a limit it is not.
  if (Number.isNaN(x)) return 'unknown'
  if (!Number.isFinite(x)) return x > 0 ? 'unlimited' : '-unlimited'
  const abs = Math.abs(x)
  const digits = Number.isInteger(x) || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  // By hand rather than toLocaleString: the first ICU call costs milliseconds at start-up.
  const fixed = abs.toFixed(digits)
  const [int, frac] = fixed.split('.') as [string, string | undefined]
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const trimmed = frac?.replace(/0+$/, '')
  return `${x < 0 ? '-' : ''}${grouped}${trimmed ? `.${trimmed}` : ''}`
}

export function formatPercent(x: number): string {
  const p = x * 100
  if (p >= 10 || p === 0) return `${Math.round(p)} %`
  if (p >= 1) return `${p.toFixed(1)} %`
  // Below 1 %, two significant digits: shares near the 0.1 % harm budget must not print as 0.0 %.
  const two = Number(p.toPrecision(2))
  return `${two >= 1 ? two.toFixed(1) : two} %`
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
export function fillTemplate(template: string, ctx: Record<string, unknown>, compiled: Expressions, human: boolean): string {
  return template.replace(TEMPLATE, (_, expr: string) => {
    const fn = compiled.get(expr)
    const v = toPlain(fn(ctx))
    if (typeof v === 'number') return human ? formatNumber(v) : String(v)
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'number' && human ? formatNumber(x) : String(x))).join(human ? '–' : ' ')
    return String(v)
  })
}
