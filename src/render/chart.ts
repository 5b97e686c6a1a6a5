import type {Facts} from '../facts/types.js'
import {hostParams, modelFlow, runModel} from '../model/index.js'
import type {FlowModel, HostModel} from '../model/types.js'
import type {Flow, Topology} from '../topology/types.js'
import {patchFlow} from '../topology/patch.js'

/**
 * Terminal charts for `model`: the share of new connections predicted to fail or to be at risk,
 * against new connections per second, one curve per setting, the declared rate marked.
 * Plain ASCII so it survives CI logs and `| less`.
 */

export interface Series {
  label: string
  glyph: string
  /** y in [0, 1] at x (new connections per second). */
  y: (qps: number) => number
}

export interface ChartSpec {
  title: string
  xMax: number
  /** The declared rate, marked on the x axis. */
  mark: number
  series: Series[]
  width?: number
  height?: number
}

/**
 * What a FlowModel predicts for the connections of the flow: the stall share (connects that fail
 * or take over 500 ms), whatever the mechanism — EADDRNOTAVAIL, SYNs a NAT drops, or SYNs the
 * server rejects on TIME_WAIT tuples whose recovery takes a second. Every figure is the model's.
 */
export function riskShare(m: FlowModel): number {
  return m.stallShare
}

export function renderChart(spec: ChartSpec): string {
  const width = spec.width ?? 60
  const height = spec.height ?? 10
  const grid: string[][] = Array.from({length: height + 1}, () => Array.from({length: width}, () => ' '))
  const markCol = Math.min(width - 1, Math.max(0, Math.round((spec.mark / spec.xMax) * width - 0.5)))
  for (let r = 0; r <= height; r++) grid[r]![markCol] = ':'
  // Later series first so the first (current settings) is drawn on top where they overlap.
  for (const s of [...spec.series].reverse()) {
    let prev: number | null = null
    for (let c = 0; c < width; c++) {
      const qps = (spec.xMax * (c + 0.5)) / width
      const y = Math.min(1, Math.max(0, s.y(qps)))
      const row = height - Math.round(y * height)
      // A jump is drawn as a vertical edge, so a step hidden under another curve still shows.
      const [from, to] = prev === null ? [row, row] : [Math.min(prev, row), Math.max(prev, row)]
      for (let r = from; r <= to; r++) grid[r]![c] = s.glyph
      prev = row
    }
  }
  const lines: string[] = [spec.title]
  grid.forEach((row, r) => {
    const share = 1 - r / height
    const label = r === 0 || r === height || r === height / 2 ? `${Math.round(share * 100)}%` : ''
    lines.push(`${label.padStart(5)} |${row.join('')}`)
  })
  lines.push(`${''.padStart(5)} +${'-'.repeat(width)}`)
  const axis = Array.from({length: width + 8}, () => ' ')
  const put = (col: number, text: string) => {
    const start = Math.max(0, Math.min(axis.length - text.length, col))
    for (let i = 0; i < text.length; i++) axis[start + i] = text[i]!
  }
  put(6, '0')
  put(7 + width - fmt(spec.xMax).length, fmt(spec.xMax))
  const markText = `${fmt(spec.mark)} declared`
  put(7 + markCol - Math.floor(markText.length / 2), markText)
  lines.push(axis.join('').trimEnd())
  lines.push(`${''.padStart(7)}new connections per second`)
  for (const s of spec.series) lines.push(`${''.padStart(7)}${s.glyph} ${s.label}`)
  return lines.join('\n') + '\n'
}

function fmt(x: number): string {
  if (x >= 100) return String(Math.round(x))
  if (x >= 10) return String(Math.round(x * 10) / 10)
  return String(Math.round(x * 100) / 100)
}

// ---- the `model` command's view: numbers per flow, remedies re-run, the chart's curves -------


/** A remedy as the rules offer it (src/rules/types.ts Remedy, minus its evidence). */
export interface RemedyIn {
  id: string
  sysctl?: Record<string, string>
  flow?: Record<string, unknown>
  action?: string
}

export interface FlowView {
  flow: Flow
  model: FlowModel
  verdict: string
  remedies: {id: string; label: string; charted: boolean; model: FlowModel}[]
  chart: {x_max: number; qps: number[]; series: {label: string; risk: number[]}[]}
}

export interface ModelView {
  kernel: string | null
  /** The whole host, from every declared flow (also when only one flow is shown). */
  host: HostModel
  flowCount: number
  flows: FlowView[]
}

const GLYPHS = ['*', 'a', 'b', 'c', 'd', 'e', 'f', 'g']
const CHART_POINTS = 60

export function verdictOf(m: FlowModel): string {
  if (m.portExhaustion) return 'connect() fails with EADDRNOTAVAIL past the safe rate'
  if (m.natExhausted && m.harmful) return 'the NAT runs out of tuples (SYNs dropped)'
  if (m.harmful) return 'harmful: SYNs rejected on tuples the server holds in TIME_WAIT stall over 500 ms'
  if (m.benignCollisions) return 'benign: collisions are accepted or recover within milliseconds'
  if (m.margin > 0.8) return 'close to the limit'
  return 'no pressure'
}

function remedyLabel(r: RemedyIn): string {
  const parts = [
    ...Object.entries(r.sysctl ?? {}).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(r.flow ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : typeof v === 'number' ? fmt(v) : String(v)}`),
  ]
  return parts.length ? parts.join(', ') : r.action ?? r.id
}

/**
 * Every flow's model, each remedy re-run through the model, and the curves of risk against
 * rate: the current settings and each remedy that changes the curve (a remedy that changes the
 * rate itself, such as keep-alive, is listed but not drawn).
 */
export function buildModelView(facts: Facts, topology: Topology, remediesByFlow: Map<string, RemedyIn[]>, only?: string): ModelView {
  const params = hostParams(facts, topology.kernel)
  // The host's numbers (TIME_WAIT it keeps, bucket overflow) always come from every declared
  // flow; `only` (model --flow) narrows what is shown, not what the host carries.
  const result = runModel(params, topology.flows)
  const flows = topology.flows.flatMap((flow, i): FlowView[] => {
    if (only !== undefined && flow.name !== only) return []
    const m = result.flows[i]!
    const remedies = (remediesByFlow.get(flow.name) ?? []).map((r) => {
      const f = r.flow ? patchFlow(flow, r.flow) : flow
      const p = r.sysctl ? hostParams({...facts, sysctls: {...facts.sysctls, ...r.sysctl}}, topology.kernel) : params
      const charted = (r.sysctl !== undefined || r.flow !== undefined) && !('qps' in (r.flow ?? {})) && !('keepalive' in (r.flow ?? {}))
      return {id: r.id, label: remedyLabel(r), charted, model: modelFlow(p, f), params: p, flow: f}
    })
    const ceiling = m.safeQps === null ? flow.qps * 2 : Math.min(flow.qps * 10, m.safeQps * 1.5)
    const xMax = Math.max(flow.qps * 2, ceiling)
    const qps = Array.from({length: CHART_POINTS}, (_, c) => (xMax * (c + 0.5)) / CHART_POINTS)
    const curve = (p: typeof params, f: Flow) => qps.map((q) => riskShare(modelFlow(p, {...f, qps: q})))
    const series = [
      {label: 'current settings', risk: curve(params, flow)},
      ...remedies.filter((r) => r.charted).map((r) => ({label: r.label, risk: curve(r.params, r.flow)})),
    ]
    return [
      {
        flow,
        model: m,
        verdict: verdictOf(m),
        remedies: remedies.map(({id, label, charted, model}) => ({id, label, charted, model})),
        chart: {x_max: xMax, qps, series},
      },
    ]
  })
  return {kernel: params.kernel?.raw ?? null, host: result.host, flowCount: topology.flows.length, flows}
}

export function renderModelText(view: ModelView, opts: {chart: boolean; width?: number} = {chart: true}): string {
  const out: string[] = []
  out.push(`kernel ${view.kernel ?? 'unknown (assumed current)'}; TIME_WAIT ${view.host.timeWaitSeconds} s; this host keeps ${fmt(view.host.timeWaitTuples)} TIME_WAIT tuples for its ${view.flowCount === 1 ? 'one declared flow' : `${view.flowCount} declared flows`}${view.host.maxTwBuckets === null ? '' : ` (tcp_max_tw_buckets ${view.host.maxTwBuckets}${view.host.maxTwBucketsEstimated ? `, estimated from ${view.host.maxTwBucketsSource}` : ''}${view.host.twOverflow ? ', overflowing' : ''})`}`)
  for (const v of view.flows) {
    const m = v.model
    out.push('')
    const nat = m.behindNat ? ', behind NAT' : m.sharedAddresses ? ', senders share addresses' : ''
    out.push(`flow "${m.flow}" (${m.role}, ${m.closesFirst} closes first${nat}, ${fmt(m.qps)} conn/s over ${m.tupleSpaces} tuple space${m.tupleSpaces === 1 ? '' : 's'})`)
    const rows: [string, string][] = [
      ['usable ports', `${m.usablePorts} (${m.portSource === 'nat' ? 'NAT pool' : m.portSource} ${m.portRange[0]}-${m.portRange[1]}; ${m.firstParityPorts} first-parity)`],
      ['reuse interval', `${fmt(m.reuseIntervalConnects)} connects = ${fmt(m.reuseIntervalSeconds)} s at ${fmt(m.qpsPerTupleSpace)}/s per tuple space`],
      ['TIME_WAIT occupancy', `${fmt(m.timeWaitTuples)} tuples on the ${m.timeWaitSide} (${fmt(m.qps)}/s x ${m.timeWaitSeconds} s)`],
    ]
    if (m.closesFirst === 'server') rows.push(['collision share', `${fmt(m.collisionShare * 100)} % of new SYNs land on a TIME_WAIT tuple`])
    if (m.natReuseSeconds !== null) rows.push(['NAT tuple reuse', `${fmt(m.natReuseSeconds)} s (capacity without eviction ${fmt(m.natCapacityQps ?? 0)}/s)`])
    if (m.connectsBeforeFailure !== null) rows.push(['connects before failure', `${m.connectsBeforeFailure} per tuple space`])
    rows.push(['safe QPS', m.safeQps === null ? 'no limit from these mechanisms' : `${fmt(m.safeQps)} (margin ${fmt(m.margin)})`])
    rows.push(['verdict', v.verdict])
    for (const r of v.remedies) {
      // Every remedy listed is one `check` verified clears its finding (r.id); what the flow looks
      // like after it can still be harmful through another finding, and says which.
      const effect = r.charted
        ? `clears ${r.id}; the flow then: ${verdictOf(r.model)}; safe QPS ${r.model.safeQps === null ? 'no limit' : fmt(r.model.safeQps)}`
        : `clears ${r.id} with fewer new connections (not drawn: it moves the rate, not the curve)`
      rows.push([`with ${r.id}`, `${r.label}: ${effect}`])
    }
    const w = Math.max(...rows.map(([k]) => k.length))
    for (const [k, val] of rows) out.push(`  ${k.padEnd(w)}  ${val}`)
    if (opts.chart) {
      out.push('')
      const chart = renderChart({
        title: '  share of new connections failing or at risk',
        xMax: v.chart.x_max,
        mark: m.qps,
        width: opts.width,
        series: mergeSame(v.chart.series).map((s, i) => ({
          label: s.label,
          glyph: GLYPHS[i % GLYPHS.length]!,
          y: (q: number) => s.risk[Math.min(s.risk.length - 1, Math.max(0, Math.floor((q / v.chart.x_max) * s.risk.length)))] ?? 0,
        })),
      })
      out.push(chart.trimEnd())
    }
  }
  return out.join('\n') + '\n'
}

/** The topology narrowed to one flow when --flow names one (a TwError with a hint otherwise). */
export async function selectFlows(topology: Topology, name?: string): Promise<Topology> {
  if (name === undefined) return topology
  const flow = topology.flows.find((f) => f.name === name)
  if (!flow) {
    const [{TwError}, {nearest}] = await Promise.all([import('../errors.js'), import('../util/nearest.js')])
    const guess = nearest(name, topology.flows.map((f) => f.name))
    throw new TwError('model.flow', `no flow "${name}" in ${topology.file}`, {
      hint: guess ? `did you mean "${guess}"?` : `flows: ${topology.flows.map((f) => f.name).join(', ')}`,
      position: {field: '--flow'},
    })
  }
  return {...topology, flows: [flow]}
}

/** The remedies the rules verified, per flow (loaded lazily: the chart works without rules). */
export async function remediesFor(facts: Facts, topology: Topology): Promise<Map<string, RemedyIn[]>> {
  const out = new Map<string, RemedyIn[]>()
  const [{loadRules}, {evaluateHost}] = await Promise.all([import('../rules/load.js'), import('../rules/engine.js')])
  const report = evaluateHost(facts, topology, loadRules())
  for (const f of report.findings) {
    if (f.flow === undefined || f.waived) continue
    const list = out.get(f.flow) ?? []
    for (const r of f.remedies) list.push({id: f.id, ...(r.sysctl ? {sysctl: r.sysctl} : {}), ...(r.flow ? {flow: r.flow} : {}), ...(r.action ? {action: r.action} : {})})
    out.set(f.flow, list)
  }
  return out
}

/** Curves that coincide are drawn once, their labels joined (else one would hide the other). */
function mergeSame(series: {label: string; risk: number[]}[]): {label: string; risk: number[]}[] {
  const out: {label: string; risk: number[]; key: string}[] = []
  for (const s of series) {
    const key = s.risk.map((x) => x.toFixed(4)).join(',')
    const same = out.find((o) => o.key === key)
    if (same) same.label += ` | ${s.label}`
    else out.push({...s, key})
  }
  return out.map(({label, risk}) => ({label, risk}))
}
