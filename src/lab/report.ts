import type {LabReport, Measured, PhaseReport, Prediction} from './run.js'
import {SLOW_MS, STUCK_MIN_STALLS} from './stats.js'

/** The lab report as text: the two phases side by side, then the model beside the measurement. */
/** `remedyOff`: the user asked for one phase (`--remedy none`), so no "after" is not a gap in the rules. */
export function renderLabText(r: LabReport, opts: {remedyOff?: boolean} = {}): string {
  const out: string[] = []
  out.push(`lab: flow "${r.flow}" on kernel ${r.kernel}`)
  if (r.scaled) {
    const s = r.scaled
    const parts = [`qps ${s.qps[0]} -> ${s.qps[1]}`]
    if (s.port_range) parts.push(`ip_local_port_range ${s.port_range[0]} -> ${s.port_range[1]}`)
    if (s.client_port_range) parts.push(`client_port_range ${s.client_port_range[0]} -> ${s.client_port_range[1]}`)
    if (s.nat_port_range) parts.push(`nat port_range ${s.nat_port_range[0]} -> ${s.nat_port_range[1]}`)
    if (s.tcp_max_tw_buckets) parts.push(`tcp_max_tw_buckets ${s.tcp_max_tw_buckets[0]} -> ${s.tcp_max_tw_buckets[1]}`)
    if (s.capped) parts.push(`capped: ${s.capped.join(', ')}`)
    out.push(`scaled x${s.factor}: ${parts.join('; ')}; ${s.phase_seconds} s measured windows`)
  }
  for (const n of r.notes) out.push(`note: ${n}`)
  out.push('')

  const remedyLabel = r.remedy ? remedyText(r.remedy) : ''
  const cols: [string, PhaseReport][] = [['before', r.before]]
  if (r.after) cols.push([`after: ${remedyLabel}`, r.after])
  const rows: [string, ...string[]][] = [
    ['', ...cols.map(([h]) => h)],
    ['attempts', ...cols.map(([, p]) => String(p.attempts))],
    ['ok', ...cols.map(([, p]) => String(p.ok))],
    ['EADDRNOTAVAIL', ...cols.map(([, p]) => String(p.failures.EADDRNOTAVAIL))],
    ['reset', ...cols.map(([, p]) => String(p.failures.reset))],
    ['timeout', ...cols.map(([, p]) => String(p.failures.timeout))],
  ]
  if (cols.some(([, p]) => p.failures.other)) rows.push(['other error', ...cols.map(([, p]) => String(p.failures.other ?? 0))])
  rows.push(
    [`slow (> ${SLOW_MS} ms)`, ...cols.map(([, p]) => String(p.slow))],
    ['stalled (failed or slow)', ...cols.map(([, p]) => String(p.stalled))],
    [`  on stuck ports (>= ${STUCK_MIN_STALLS} stalls each)`, ...cols.map(([, p]) => (p.stuck_ports > 0 ? `${p.stuck_stalls} on ${p.stuck_ports}` : '0'))],
    ['warm-up + windows s', ...cols.map(([, p]) => `${p.warmup_seconds} + ${1 + p.extensions} x ${p.window_seconds}`)],
    ['connect p50/p99/max ms', ...cols.map(([, p]) => [p.p50_ms, p.p99_ms, p.max_ms].map((x) => (x === null ? '-' : String(x))).join(' / '))],
  )
  const firsts = cols.map(([, p]) => p.connects_before_first_EADDRNOTAVAIL.filter((x) => x !== null))
  if (firsts.some((f) => f.length > 0)) rows.push(['connects before 1st EADDRNOTAVAIL', ...firsts.map((f) => (f.length ? f.join(', ') : '-'))])
  rows.push(['tuples reused within 60 s', ...cols.map(([, p]) => p.reused_tuples === null ? '-' : String(p.reused_tuples))])
  rows.push(['  by age 0-10-20-..-60 s', ...cols.map(([, p]) => p.reused_by_age_10s.join(' '))])
  // Counters that moved in either phase, per namespace.
  const labels = Object.keys(r.before.counters)
  for (const ns of new Set([...labels, ...Object.keys(r.after?.counters ?? {})])) {
    const names = new Set<string>()
    for (const [, p] of cols) for (const [k, v] of Object.entries(p.counters[ns] ?? {})) if (v !== 0) names.add(k)
    for (const k of names) rows.push([`${ns} ${k}`, ...cols.map(([, p]) => String(p.counters[ns]?.[k] ?? '-'))])
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)))
  for (const row of rows) out.push(row.map((c, i) => (i === 0 ? c.padEnd(w[0]!) : c.padStart(Math.max(w[i]!, 8)))).join('  ').trimEnd())
  for (const [label, p] of cols) {
    const ports = p.repeated_stall_ports.slice(0, 5).map(([c, port, n, of]) => `client${c + 1}:${port} ${n} of ${of}`)
    if (ports.length > 0) out.push(`${label}: ports with repeated stalls (stalled of connects): ${ports.join(', ')}${p.repeated_stall_ports.length > 5 ? ', ...' : ''}`)
  }
  out.push('')
  out.push(verdictLine('before', r.prediction, r.measured, r.agrees, r.agreement))
  if (r.prediction_after && r.measured_after && r.agrees_after !== null) out.push(verdictLine('after ', r.prediction_after, r.measured_after, r.agrees_after, r.agreement_after ?? 'interval'))
  else if (!r.remedy && opts.remedyOff) out.push('after : not run (--remedy none: one phase only)')
  else if (!r.remedy) out.push('after : no remedy the lab can apply (the rules offer none for this flow, or only actions outside this host)')
  if (r.remedy) out.push(`remedy (${r.remedy.source}): ${remedyLabel}: ${r.remedy.why}`)
  return out.join('\n') + '\n'
}

function remedyText(r: NonNullable<LabReport['remedy']>): string {
  const parts = [
    ...Object.entries(r.sysctl ?? {}).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(r.flow ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`),
  ]
  return parts.join(', ')
}

function verdictLine(label: string, p: Prediction, m: Measured, agrees: boolean, basis: 'interval' | 'verdict'): string {
  const safe = p.safe_qps === null ? 'no limit' : `safe up to ${p.safe_qps}/s`
  const judged = m.harmful === true ? 'harmful' : m.harmful === false ? 'no harm' : 'inconclusive'
  const measured = `${judged} (${pct(m.stall_share)} stalled, 95 % [${pct(m.interval[0])}, ${pct(m.interval[1])}] of ${m.attempts}; budget ${pct(p.harm_budget)})`
  const how = basis === 'verdict' ? ' (prediction below the lab\'s resolution: verdicts compared)' : ''
  const o = m.outside_stuck
  const stuck = o
    ? `; off ${m.stuck_ports} stuck port${m.stuck_ports === 1 ? '' : 's'}: ${pct(o.stall_share)}, 95 % [${pct(o.interval[0])}, ${pct(o.interval[1])}] of ${o.attempts}, ${o.verdict}; stuck: ${pct(m.attempts > 0 ? m.stuck_stalls / m.attempts : 0)} (model: ${pct(p.stuck_tuple_share)} each)`
    : ''
  return `${label}: model: ${p.verdict}, ${pct(p.stall_share)} stalled, ${safe}; measured: ${measured}${stuck} -> ${agrees ? 'agrees' : 'DISAGREES'}${how}`
}

/** Percent with enough digits for shares near the budget (0.1 %). */
const pct = (x: number) => `${x === 0 ? 0 : Number((x * 100).toPrecision(3))} %`
