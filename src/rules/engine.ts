import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {readsOverflowShare, runModelUnder} from '../model/flow.js'
import {hostParams, modelFlow, runModel, type FlowModel, type HostModel, type HostParams, type ModelResult} from '../model/index.js'
import {accountHost, collisionRemedyCap, entriesOf, finishFlow, flowShape, hostModelOf, HostTotals, shapesOf, type HostAccounting, type ModelledHost} from '../model/host.js'
import {reservedInRange, usablePorts} from '../model/ports.js'
import {withOverflowShare} from '../model/predict.js'
import type {Flow, Topology} from '../topology/types.js'
import {fillTemplate, toPlain} from './cel.js'
import type {LoadedRule} from './load.js'
import {severityRank, type Finding, type HostReport, type Remedy, type RemedySpec, type Severity} from './types.js'
import {patchFlow} from '../topology/patch.js'
import {RELEVANT_KEYS} from '../facts/keys.js'
import {judgeRemediesOnHost, type Fired, type HostHooks} from './host-remedies.js'
import {sameValue} from '../util/same.js'

type Ctx = Record<string, unknown>
type Value = number | string | boolean | null

export interface EvaluateOptions {
  /** `ID` or `ID:flow` from --waive. */
  waive?: string[]
  /** Label when the topology has no `host:`. */
  hostLabel?: string
  /**
   * Re-run the whole host's model for every remedy, as the definition says (tests compare the
   * fast path with it). Off: a remedy that changes one flow, or only host settings, is judged
   * on that flow and the host's totals (changedFlow, changedSettings) unless its rule reads the
   * other flows; a host-wide setting re-models only the flows it moves (runModelUnder); and
   * whole-host re-runs are shared between equal patches.
   */
  exhaustive?: boolean
  /** Told what became of each remedy of each finding (the rules' cases prove the re-check with it). */
  onRemedy?: (trial: RemedyTrial) => void
  /**
   * Judge remedies on the whole host (host-remedies.ts): on by default; off for the inner
   * evaluations that judgement itself runs.
   */
  judgeOnHost?: boolean
}

/**
 * One remedy considered for one finding: `gated` (its `when` is false), `no-value` (the model has
 * no value that works), `rejected` (the model re-run with it applied still fires the rule) or
 * `offered`. `sets` names the sysctl keys and flow fields it changes.
 */
export interface RemedyTrial {
  rule: string
  flow?: string
  sets: string[]
  outcome: 'gated' | 'no-value' | 'rejected' | 'offered'
}

/** Everything the rules see for one host, computed once per evaluation (and per remedy re-run). */
interface Evaluation {
  facts: Facts
  flows: Flow[]
  params: HostParams
  model: ModelResult
  /** The CEL context of the host-wide rules; the flow rules' contexts extend it. */
  base: Ctx
  /** The CEL context per flow, built when a rule first asks for it. */
  flowContexts: (Ctx | undefined)[]
  /** Whole-host re-runs by patch (facts-derived values computed once per host and patch). */
  reruns?: Map<string, Evaluation>
  exhaustive?: boolean
  /** Per flow: its model alone equals its model on the whole host (modelIsPerFlow). */
  perFlow?: boolean[]
  /** For one-flow changes (changedFlow), built on first use. */
  totals?: Totals
  /** The host's accounting under changed settings (changedSettings), by patch; without the per-flow entries. */
  settings?: Map<string, HostAccounting>
  /** Per flow rule: whether it fired on each flow (1), did not (0), or was not asked (undefined); firedOn fills it. */
  verdicts?: Map<LoadedRule, Uint8Array>
  /** Per host rule, on the unchanged host: whether it fires (firedOn fills it with `verdicts`). */
  hostVerdicts?: Map<LoadedRule, boolean>
  /** Per flow rule, on the unchanged host: the flows it fires on (indexes, in order) and their Fired entries (firedOn fills it). */
  firedBy?: Map<LoadedRule, {idx: number[]; fired: Fired[]}>
  /** On a changed host: the flows whose declaration or model differs from `from`'s (changedIndexes). */
  changed?: number[]
  /** This host as runModelUnder takes it (modelledHost). */
  modelled?: ModelledHost
  /** The evaluation this one changed (its flows' contexts and the rules' verdicts are re-used where their inputs are the same). */
  from?: Evaluation
}

/**
 * `params` may be passed in when only the flows changed (a flow remedy): the host did not.
 * `from`: an evaluation of the same host before a change, whose flows' contexts are re-used for
 * the flows the change left alone (and firedOn re-uses its verdicts where their inputs are equal).
 */
function evaluation(facts: Facts, flows: Flow[], kernelOverride?: string, params = hostParams(facts, kernelOverride), opts: {from?: Evaluation} = {}): Evaluation {
  const from = opts.from?.exhaustive ? undefined : opts.from
  // The same flows under other settings: only the flows whose models read what moved are modelled again.
  const model = (from !== undefined && flows === from.flows && runModelUnder(modelledHost(from), params)) || runModel(params, flows)
  const fromFlows = from?.base.flows as Ctx[] | undefined
  const base: Ctx = {
    host: hostContext(params, model.host, flows.length),
    sysctl: facts.sysctls,
    counters: facts.counters,
    // Every flow of the host, so a rule about one flow can ask about the others.
    flows: from ? flows.map((f, i) => (f === from.flows[i] ? fromFlows![i]! : flowCtx(f))) : flows.map(flowCtx),
    models: model.flows,
  }
  return {facts, flows, params, model, base, flowContexts: [], from}
}

/** The evaluation's host as runModelUnder takes it, built on first use. */
function modelledHost(ev: Evaluation): ModelledHost {
  if (ev.modelled) return ev.modelled
  const first: (boolean | undefined)[] = []
  ev.modelled = {
    host: ev.params,
    flows: ev.flows,
    result: ev.model,
    totals: totalsOf(ev).totals,
    firstPortExhaustion: (i) => (first[i] ??= modelFlow(ev.params, ev.flows[i]!).portExhaustion),
  }
  return ev.modelled
}

/** The CEL `host`: the host's model and settings (-1 where a key is absent). */
export function hostContext(params: HostParams, host: HostModel, flowCount: number): Ctx {
  const orAbsent = (v: number | null) => (v === null ? -1 : v)
  // One literal, in the order Object.assign({}, host, settings) gives (the model's fields as
  // hostModelOf lists them, maxTwBuckets and timeWaitSeconds overwritten in place, then the
  // settings): copying the model's fields one by one cost ~2 µs per context, and contexts are
  // built per remedy. test/rules/host-context.test.ts holds it to that definition.
  return {
    timeWaitTuples: host.timeWaitTuples,
    maxTwBuckets: orAbsent(params.maxTwBuckets),
    twOverflow: host.twOverflow,
    twCapIsCollisionRemedy: host.twCapIsCollisionRemedy,
    timeWaitSeconds: params.timeWaitSeconds,
    kernelCode: host.kernelCode,
    maxTwBucketsSource: host.maxTwBucketsSource,
    maxTwBucketsEstimated: host.maxTwBucketsEstimated,
    twOverflowShare: host.twOverflowShare,
    twOverflowTuples: host.twOverflowTuples,
    twOverflowKeepsPortsFor: host.twOverflowKeepsPortsFor,
    conntrackEntries: host.conntrackEntries,
    conntrackMax: host.conntrackMax,
    conntrackFull: host.conntrackFull,
    conntrackMaxNeeded: host.conntrackMaxNeeded,
    facts: host.facts,
    kernel: host.kernelCode,
    kernelRelease: params.kernel?.raw ?? '',
    // For messages: never an empty "on this kernel ()".
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
    rfc1337: params.rfc1337,
    twRecycle: orAbsent(params.twRecycle),
    finTimeoutSeconds: orAbsent(params.finTimeoutSeconds),
    vendorTimeWaitSeconds: orAbsent(params.vendorTimeWaitSeconds),
    conntrackTimeWaitSeconds: orAbsent(params.conntrackTimeWaitSeconds),
    usablePorts: usablePorts(params.portRange, params.reservedPorts),
    reservedInRange: reservedInRange(params.portRange, params.reservedPorts),
    flowCount,
  }
}

/**
 * Thrown when an expression evaluated on a one-flow change (changedFlow) reads what that change
 * does not compute: the other flows (`flows`, `models`) or a host value made from all their models
 * (host.twOverflowKeepsPortsFor). The caller then evaluates the whole changed host instead.
 */
const NEED_WHOLE_HOST = new Error('twadvisor: this expression needs the whole host re-run')
function needWholeHost(): never {
  throw NEED_WHOLE_HOST
}
function deferred(obj: Ctx, keys: string[]): Ctx {
  for (const key of keys) Object.defineProperty(obj, key, {enumerable: true, configurable: true, get: needWholeHost})
  return obj
}

/** What a one-flow change leaves to compute: the base's totals, and which flows' models set host.twCapIsCollisionRemedy. */
interface Totals {
  totals: HostTotals
  collisionCaps: number
  /** Index of each flow by name (-1: the name is not unique). */
  byName: Map<string, number>
}

function totalsOf(ev: Evaluation): Totals {
  if (ev.totals) return ev.totals
  const models = ev.model.flows
  const byName = new Map<string, number>()
  ev.flows.forEach((f, i) => byName.set(f.name, byName.has(f.name) ? -1 : i))
  ev.totals = {
    totals: new HostTotals(ev.params, ev.flows.map((f, i) => flowShape(ev.params, f, models[i]!))),
    collisionCaps: models.filter((m) => collisionRemedyCap(ev.params, m)).length,
    byName,
  }
  return ev.totals
}

/**
 * A flow's model as modelHost finishes it on a host whose accounting is `acc` (`entries`: the
 * flow's own TIME_WAIT entries): modelHost's second pass when the host overflows
 * tcp_max_tw_buckets and the flow reads that share (its shape does not change), else its first
 * pass; then finishFlow.
 */
function onHost(params: HostParams, flow: Flow, acc: HostAccounting, entries: number): FlowModel {
  // Its first pass is needed only when there is no second: the shape came from shapesOf.
  const model = acc.twOverflowShare > 0 && readsOverflowShare(params, flow) ? modelFlow(withOverflowShare(params, acc.twOverflowShare), flow) : modelFlow(params, flow)
  finishFlow(flow, model, acc, entries)
  return model
}

/** The host fields a one-flow change does not compute (changedFlow defers them). */
const ONE_FLOW_DEFERRED = ['twOverflowKeepsPortsFor']

/**
 * changedFlow's model and host context by the changed flow (patchFlow gives one object per flow
 * and patch): a remedy's re-check and its judgement on the whole host ask for the same change,
 * on the same host (the same totals, settings and models). Judgement asks last and drops it.
 */
const changedModels = new WeakMap<Flow, {totals: Totals; params: HostParams; models: FlowModel[]; idx: number; host: Ctx; model: FlowModel}>()

/**
 * The host with flow `idx` replaced by `flow`, settings unchanged, in O(1): that flow's model
 * (as modelHost would give it, from the host totals patched by its delta) and the host's model,
 * as CEL contexts. What it does not compute (the other flows' models, which a change in the
 * TIME_WAIT overflow share would move) is deferred: reading it throws NEED_WHOLE_HOST.
 */
function changedFlow(ev: Evaluation, idx: number, flow: Flow, opts: {last?: boolean} = {}): {base: Ctx; ctx: Ctx; model: FlowModel} {
  const t = totalsOf(ev)
  const params = ev.params
  let done = changedModels.get(flow)
  if (done === undefined || done.totals !== t || done.params !== params || done.models !== ev.model.flows || done.idx !== idx) {
    // The flow's shape without modelling it (shapesOf: what flowShape reads of the model, worked out the same way).
    const {acc, entries} = t.totals.replaced(idx, shapesOf(params, [flow])[0]!)
    const model = onHost(params, flow, acc, entries)
    const caps = t.collisionCaps - (collisionRemedyCap(params, ev.model.flows[idx]!) ? 1 : 0) + (collisionRemedyCap(params, model) ? 1 : 0)
    const host = deferred(hostContext(params, hostModelOf(params, acc, caps > 0, []), ev.flows.length), ONE_FLOW_DEFERRED)
    changedModels.set(flow, (done = {totals: t, params, models: ev.model.flows, idx, host, model}))
  }
  if (opts.last) changedModels.delete(flow)
  const {host, model} = done
  const base = withoutFlows(host, ev.facts)
  const ctx = withoutFlows(host, ev.facts, flowCtx(flow), model)
  return {base, ctx, model}
}

/**
 * A context of a one-flow change: `host`, `sysctl`, `counters`, `flows` and `models` deferred
 * (reading them throws NEED_WHOLE_HOST), then `flow` and `model` when given. What
 * deferred({host, sysctl, counters}, ['flows', 'models']) builds, as one literal: own enumerable
 * accessors in the same order, without a defineProperty per key per remedy.
 */
function withoutFlows(host: Ctx, facts: Facts, flow?: Ctx, model?: FlowModel): Ctx {
  if (flow === undefined) {
    return {
      host,
      sysctl: facts.sysctls,
      counters: facts.counters,
      get flows(): never {
        return needWholeHost()
      },
      get models(): never {
        return needWholeHost()
      },
    }
  }
  return {
    host,
    sysctl: facts.sysctls,
    counters: facts.counters,
    get flows(): never {
      return needWholeHost()
    },
    get models(): never {
      return needWholeHost()
    },
    flow,
    model,
  }
}

function contextFor(ev: Evaluation, flowIndex: number | null): Ctx {
  if (flowIndex === null) return ev.base
  return (ev.flowContexts[flowIndex] ??= Object.assign({}, ev.base, {flow: (ev.base.flows as Ctx[])[flowIndex]!, model: ev.model.flows[flowIndex]!}))
}

function flowCtx(flow: Flow): Ctx {
  return Object.assign({} as Ctx, flow, {behind_nat: flow.nat !== undefined})
}

function run(rule: LoadedRule, expr: string, ctx: Ctx, where: string): unknown {
  const fn = rule.compiled.get(expr)
  try {
    return toPlain(fn(ctx))
  } catch (error) {
    if (error === NEED_WHOLE_HOST || (error as Error | undefined)?.message === NEED_WHOLE_HOST.message) throw NEED_WHOLE_HOST
    throw new TwError('rules.eval', `cannot evaluate ${where}: ${(error as Error).message.split('\n')[0]}`, {
      position: {file: rule.file, field: where},
    })
  }
}

function fires(rule: LoadedRule, ctx: Ctx): boolean {
  const v = run(rule, rule.when, ctx, 'when')
  if (typeof v !== 'boolean') throw new TwError('rules.eval', `"when" must be true or false, got ${JSON.stringify(v)}`, {position: {file: rule.file, field: 'when'}})
  return v
}

/** The name an evidence expression is shown under: its last field or quoted key. */
export function evidenceName(expr: string): string {
  const quoted = /\[\s*['"]([^'"]+)['"]\s*\]\s*$/.exec(expr)
  if (quoted) return quoted[1]!
  const ident = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(expr)
  return ident ? ident[1]! : expr
}

/** Evidence names by expression: worked out once, not per finding and remedy. */
const evidenceNames = new Map<string, string>()
function setName(expr: string): string {
  const name = evidenceName(expr)
  evidenceNames.set(expr, name)
  return name
}

function evidence(rule: LoadedRule, ctx: Ctx): Record<string, Value> {
  const out: Record<string, Value> = {}
  for (const e of rule.evidence) {
    const v = run(rule, e, ctx, `evidence "${e}"`)
    out[evidenceNames.get(e) ?? setName(e)] = typeof v === 'number' && !Number.isFinite(v) ? null : (v as Value)
  }
  return out
}

/** Template output back to data: "true" -> true, "12" -> 12, "1024 65535" -> [1024, 65535]. */
function parseValue(s: string): unknown {
  if (s === 'true' || s === 'false') return s === 'true'
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s)
  if (/^\d+ \d+$/.test(s)) return s.split(' ').map(Number)
  return s
}

/**
 * Evaluate every rule against one host. Each remedy is applied to a copy of the facts or the
 * flow, the whole model re-run, and the rule re-evaluated: only a remedy that clears the finding
 * is offered, with the evidence before (the finding's) and after (the remedy's).
 */
export function evaluateHost(facts: Facts, topology: Topology, rules: LoadedRule[], opts: EvaluateOptions = {}): HostReport {
  const ev = evaluation(facts, topology.flows, topology.kernel)
  ev.exhaustive = opts.exhaustive === true
  const findings: Finding[] = []
  for (const rule of rules) {
    if (!factsHold(rule.facts, ev.params)) continue
    const targets: (number | null)[] =
      rule.applies_to === 'host'
        ? [null]
        : topology.flows.flatMap((f, i) => (rule.applies_to === 'any' || f.role === rule.applies_to ? [i] : []))
    for (const idx of targets) {
      const ctx = contextFor(ev, idx)
      if (!fires(rule, ctx)) continue
      const finding: Finding = Object.assign(
        {id: rule.id, severity: rule.severity, title: rule.title},
        idx === null ? {} : {flow: topology.flows[idx]!.name},
        {
          message: fillTemplate(rule.message, ctx, rule.compiled, true),
          evidence: evidence(rule, ctx),
          remedies: rule.remedies.flatMap((spec) => {
            const {remedy, outcome} = tryRemedy(rule, spec, ev, idx, ctx, topology.kernel)
            opts.onRemedy?.({
              rule: rule.id,
              ...(idx === null ? {} : {flow: topology.flows[idx]!.name}),
              sets: [...Object.keys(spec.sysctl ?? {}), ...Object.keys(spec.flow ?? {})],
              outcome,
            })
            return remedy ? [remedy] : []
          }),
          references: rule.references,
        },
      )
      const waiver = findWaiver(topology, opts.waive ?? [], rule.id, finding.flow)
      if (waiver) finding.waived = {reason: waiver}
      findings.push(finding)
    }
  }
  findings.sort(
    (a, b) => severityRank(b.severity) - severityRank(a.severity) || a.id.localeCompare(b.id) || (a.flow ?? '').localeCompare(b.flow ?? ''),
  )
  // One separate step: remedies judged against every rule on the host, not just their own.
  if (opts.judgeOnHost !== false && findings.some((f) => f.remedies.length > 0)) {
    judgeRemediesOnHost(findings, judgeHooks(facts, topology, rules, ev))
  }
  return {
    host: topology.host ?? opts.hostLabel ?? (facts.source === 'live' ? 'localhost' : facts.source),
    kernel: ev.params.kernel?.raw ?? null,
    source: facts.source,
    findings,
    model: {host: ev.model.host, flows: ev.model.flows},
  }
}

/**
 * What fires on the host with `sysctl` set, or one flow patched (at or above `minSeverity`), as
 * judgement sees it after the unchanged host: tests hold these paths (runModelUnder, changedFlow,
 * verdicts re-used) to the exhaustive one.
 */
export function firedWith(
  facts: Facts,
  topology: Topology,
  rules: LoadedRule[],
  sysctl: Record<string, string>,
  opts: {exhaustive?: boolean; minSeverity?: Severity; flow?: {name: string; patch: Record<string, unknown>}} = {},
): Fired[] {
  const ev = evaluation(facts, topology.flows, topology.kernel)
  ev.exhaustive = opts.exhaustive === true
  const hooks = judgeHooks(facts, topology, rules, ev)
  hooks.fired({}, new Map())
  const patches = new Map(opts.flow ? [[opts.flow.name, opts.flow.patch]] : [])
  // A one-flow change alone is judged on that flow (as judgement asks it: onlyFlow).
  return hooks.fired(sysctl, patches, opts.minSeverity, opts.flow && Object.keys(sysctl).length === 0 ? opts.flow.name : undefined)
}

/**
 * The host states remedies are judged on. A one-flow change is evaluated on that flow and the
 * host's totals (changedFlow), in O(1); any other change on the whole host, once per distinct
 * change and severity (only the verdicts are kept, not the re-run).
 */
function judgeHooks(facts: Facts, topology: Topology, rules: LoadedRule[], ev: Evaluation): HostHooks {
  // Rules read only RELEVANT_KEYS (a test holds them to it), so the changed states carry just
  // those: copying a 1,300-key dump per remedy was most of this step's time.
  const sysctls = relevantSysctls(facts.sysctls)
  const state = (sysctl: Record<string, string>, patches: Map<string, Record<string, unknown>>) => ({
    facts: Object.assign({}, facts, {sysctls: Object.assign({}, sysctls, sysctl)}),
    flows: patches.size === 0 ? topology.flows : topology.flows.map((f) => (patches.has(f.name) ? patchFlow(f, patches.get(f.name)! as Parameters<typeof patchFlow>[1]) : f)),
  })
  let base: Evaluation | undefined
  const seen = new Map<string, Fired[]>()
  return {
    fired(sysctl, patches, minSeverity, onlyFlow) {
      // Exhaustive: nothing re-used from it either (the reference the fast paths are held to),
      // and a one-flow change is evaluated on the whole host too, not by changedFlow.
      base ??= Object.assign(sameHost(ev, state({}, new Map()).facts, topology.kernel), {exhaustive: ev.exhaustive})
      if (!base.exhaustive && Object.keys(sysctl).length === 0 && patches.size === 1 && onlyFlow !== undefined) {
        const [name, patch] = [...patches][0]!
        const idx = totalsOf(base).byName.get(name)
        if (name === onlyFlow && idx !== undefined && idx >= 0) {
          try {
            return firedOnChange(base, idx, patchFlow(base.flows[idx]!, patch as Parameters<typeof patchFlow>[1]), rules, minSeverity)
          } catch (error) {
            if (error !== NEED_WHOLE_HOST) throw error
          }
        }
      }
      const key = JSON.stringify([sysctl, [...patches], minSeverity ?? null, onlyFlow ?? null])
      let out = seen.get(key)
      if (!out) {
        const s = state(sysctl, patches)
        const ev = Object.keys(sysctl).length === 0 && patches.size === 0 ? base : evaluation(s.facts, s.flows, topology.kernel, undefined, {from: base})
        seen.set(key, (out = firedOn(ev, rules, minSeverity, onlyFlow)))
      }
      return out
    },
    fixes(sysctl, patches) {
      const s = state(sysctl, patches)
      const ev = evaluation(s.facts, s.flows, topology.kernel, undefined, {from: base})
      return (c) => firstSysctlFix(ev, rules, c, topology.kernel)
    },
  }
}

/**
 * The host with its settings changed (`params`, from `facts`), as flow `idx` sees it: its model,
 * from the host's accounting under the new settings (the flows' shapes, no flow modelled again;
 * once per patch), and the host's model. What needs every flow's model under the new settings
 * (flows, models, host.twOverflowKeepsPortsFor, host.twCapIsCollisionRemedy) is deferred.
 */
function changedSettings(ev: Evaluation, key: string, facts: Facts, params: HostParams, idx: number): Ctx {
  const settings = (ev.settings ??= new Map())
  let acc = settings.get(key)
  if (!acc) {
    acc = totalsOf(ev).totals.under(params) ?? accountHost(params, shapesOf(params, ev.flows))
    settings.set(key, (acc = Object.assign({}, acc, {flowEntries: []})))
  }
  const flow = ev.flows[idx]!
  const model = onHost(params, flow, acc, entriesOf(shapesOf(params, [flow])[0]!))
  const host = deferred(hostContext(params, hostModelOf(params, acc, false, []), ev.flows.length), ['twOverflowKeepsPortsFor', 'twCapIsCollisionRemedy'])
  return withoutFlows(host, facts, flowCtx(flow), model)
}

/**
 * What judgement takes from a finding it created: the finding `c` on this evaluation, if the rule
 * fires there, and its first offered remedy that sets sysctls (the remedies tried in order, up to
 * that one; the finding's message, evidence and other remedies are not needed).
 */
function firstSysctlFix(ev: Evaluation, rules: LoadedRule[], c: {id: string; flow?: string}, kernel: string | undefined): Remedy | undefined {
  const rule = rules.find((r) => r.id === c.id)
  if (!rule || !factsHold(rule.facts, ev.params) || (rule.applies_to === 'host') !== (c.flow === undefined)) return undefined
  let idx: number | null = null
  if (c.flow !== undefined) {
    idx = ev.flows.findIndex((f) => f.name === c.flow)
    if (idx < 0 || (rule.applies_to !== 'any' && ev.flows[idx]!.role !== rule.applies_to)) return undefined
  }
  const ctx = contextFor(ev, idx)
  if (!fires(rule, ctx)) return undefined
  for (const spec of rule.remedies) {
    if (Object.keys(spec.sysctl ?? {}).length === 0) continue
    const {remedy} = tryRemedy(rule, spec, ev, idx, ctx, kernel)
    if (remedy) return remedy
  }
  return undefined
}

/**
 * The host as judgement sees it (its relevant sysctls only): the evaluation already made when
 * its settings come out the same, so the model is not run again; else a new one.
 */
function sameHost(ev: Evaluation, facts: Facts, kernel: string | undefined): Evaluation {
  const params = hostParams(facts, kernel)
  if (JSON.stringify(params) !== JSON.stringify(ev.params)) return evaluation(facts, ev.flows, kernel, params)
  const base: Ctx = Object.assign({}, ev.base, {sysctl: facts.sysctls})
  return {facts, flows: ev.flows, params: ev.params, model: ev.model, base, flowContexts: [], totals: ev.totals}
}

/** firedOn(evaluation of the host with flow `idx` replaced, onlyFlow: it), from changedFlow. */
function firedOnChange(ev: Evaluation, idx: number, flow: Flow, rules: LoadedRule[], minSeverity: Severity = 'info'): Fired[] {
  const {base, ctx, model} = changedFlow(ev, idx, flow, {last: true})
  const out: Fired[] = []
  const min = severityRank(minSeverity)
  // The unchanged host's verdict holds where every field the rule's `when` reads is equal on the
  // changed flow, its model and the host (whenReads); else the rule is evaluated.
  const was = !ev.exhaustive && ev.from === undefined ? ev : undefined
  const host = base.host as Ctx
  const wasHost = ev.base.host as Ctx
  const wasModel = ev.model.flows[idx] as unknown as Ctx
  const wasFlow = (ev.base.flows as Ctx[])[idx]!
  // A deferred field is left to the rule's evaluation (reading it throws NEED_WHOLE_HOST there, or not, as before).
  const sameHostReads = (reads: WhenReads) => reads.host.every((k) => !ONE_FLOW_DEFERRED.includes(k) && sameValue(host[k], wasHost[k]))
  for (const rule of rules) {
    if (severityRank(rule.severity) < min || !factsHold(rule.facts, ev.params)) continue
    const reads = was ? whenReads(rule) : null
    if (rule.applies_to === 'host') {
      const prev = reads ? was!.hostVerdicts?.get(rule) : undefined
      const reuse = prev !== undefined && reads!.model.length === 0 && reads!.flow.length === 0 && sameHostReads(reads!)
      if (reuse ? prev : fires(rule, base)) out.push({id: rule.id, severity: rule.severity})
    } else if (rule.applies_to === 'any' || flow.role === rule.applies_to) {
      const prev = reads ? was!.verdicts?.get(rule)?.[idx] : undefined
      const reuse =
        prev !== undefined &&
        prev !== 0 &&
        sameHostReads(reads!) &&
        reads!.model.every((k) => sameValue((model as unknown as Ctx)[k], wasModel[k])) &&
        reads!.flow.every((k) => sameValue((ctx.flow as Ctx)[k], wasFlow[k]))
      if (reuse ? prev === 2 : fires(rule, ctx)) out.push({id: rule.id, flow: flow.name, severity: rule.severity})
    }
  }
  return out
}


function relevantSysctls(all: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of RELEVANT_KEYS) if (all[k] !== undefined) out[k] = all[k]
  return out
}

/**
 * Which rules fire on one host state (for judging remedies on the whole host): no messages, no
 * remedies. On a changed host (`ev.from`), a flow rule's verdict on a flow is the unchanged
 * host's when every input its `when` reads is equal there (same flow, equal model and host
 * fields: whenReads), so a host-wide change evaluates the rules again only where it moved them.
 */
function firedOn(ev: Evaluation, rules: LoadedRule[], minSeverity: Severity = 'info', onlyFlow?: string): Fired[] {
  const out: Fired[] = []
  const min = severityRank(minSeverity)
  const from = ev.from?.verdicts && ev.from.flows.length === ev.flows.length ? ev.from : undefined
  // Verdicts are kept on the host the changes start from (judgement's unchanged host).
  const keep = ev.from === undefined && onlyFlow === undefined ? (ev.verdicts ??= new Map()) : undefined
  for (const rule of rules) {
    if (severityRank(rule.severity) < min || !factsHold(rule.facts, ev.params)) continue
    if (rule.applies_to === 'host') {
      const v = fires(rule, contextFor(ev, null))
      if (keep) (ev.hostVerdicts ??= new Map()).set(rule, v)
      if (v) out.push({id: rule.id, severity: rule.severity})
      continue
    }
    const reads = from ? whenReads(rule) : null
    const prev = reads ? from!.verdicts!.get(rule) : undefined
    const reuse = prev !== undefined && reads!.host.every((k) => sameValue((ev.base.host as Ctx)[k], (from!.base.host as Ctx)[k]))
    const models = ev.model.flows
    const prevModels = from?.model.flows
    let verdicts: Uint8Array | undefined
    let kept: {idx: number[]; fired: Fired[]} | undefined
    if (keep) {
      keep.set(rule, (verdicts = new Uint8Array(ev.flows.length)))
      ;(ev.firedBy ??= new Map()).set(rule, (kept = {idx: [], fired: []}))
    }
    const fields = reads?.model ?? []
    const verdict = (i: number, f: Flow): boolean => {
      if (reuse && prev[i] !== 0 && f === from!.flows[i]) {
        const a = models[i] as unknown as Ctx
        const b = prevModels![i] as unknown as Ctx
        let same = true
        // The same model object (runModelUnder kept it): every field is equal.
        if (a !== b) for (let j = 0; same && j < fields.length; j++) same = sameValue(a[fields[j]!], b[fields[j]!])
        if (same) return prev[i] === 2
      }
      return fires(rule, contextFor(ev, i))
    }
    // Only some flows changed (a host-wide change that moved few models): the unchanged host's
    // verdicts hold for the others, so its list of firing flows is merged with the changed flows' verdicts.
    const prevFired = reuse && onlyFlow === undefined && !keep ? from!.firedBy?.get(rule) : undefined
    if (prevFired) {
      const changed = (ev.changed ??= changedIndexes(ev, from!))
      let p = 0
      for (const i of changed) {
        while (p < prevFired.idx.length && prevFired.idx[p]! < i) out.push(prevFired.fired[p++]!)
        if (p < prevFired.idx.length && prevFired.idx[p] === i) p++
        const f = ev.flows[i]!
        if (rule.applies_to !== 'any' && f.role !== rule.applies_to) continue
        if (verdict(i, f)) out.push({id: rule.id, flow: f.name, severity: rule.severity})
      }
      while (p < prevFired.idx.length) out.push(prevFired.fired[p++]!)
      continue
    }
    // A plain loop: at 10,000 flows this runs ~1.4 million times per check.
    for (let i = 0; i < ev.flows.length; i++) {
      const f = ev.flows[i]!
      if (onlyFlow !== undefined && f.name !== onlyFlow) continue
      if (rule.applies_to !== 'any' && f.role !== rule.applies_to) continue
      const v = verdict(i, f)
      if (verdicts) verdicts[i] = v ? 2 : 1
      if (v) {
        const fired: Fired = {id: rule.id, flow: f.name, severity: rule.severity}
        out.push(fired)
        if (kept) {
          kept.idx.push(i)
          kept.fired.push(fired)
        }
      }
    }
  }
  return out
}

/** The flows whose declaration or model object differs from the unchanged host's, in order. */
function changedIndexes(ev: Evaluation, from: Evaluation): number[] {
  const out: number[] = []
  const models = ev.model.flows
  const prev = from.model.flows
  for (let i = 0; i < ev.flows.length; i++) if (ev.flows[i] !== from.flows[i] || models[i] !== prev[i]) out.push(i)
  return out
}

/**
 * The fields a rule's `when` reads: `model.x`, `host.x` and `flow.x` (firedOn compares the flow
 * as the same object; firedOnChange, a changed flow, field by field). Null when it reads anything else, or reads in a way this cannot follow (another
 * variable, `sysctl`, `counters`, `flows`, `models`, a macro's variable, a field by computed name):
 * its verdict is then always evaluated. Conservative: string literals are dropped first, and any
 * name this does not know makes it null.
 */
const whenReadsOf = new WeakMap<LoadedRule, WhenReads | null>()
/** What a rule's `when` reads: fields of `model`, `host` and `flow`. */
interface WhenReads {
  model: string[]
  host: string[]
  flow: string[]
}
const CEL_WORDS = new Set(['true', 'false', 'null', 'in', 'int', 'uint', 'double', 'string', 'bool', 'size', 'has', 'kv', 'fmt', 'pct'])
function whenReads(rule: LoadedRule): WhenReads | null {
  let reads = whenReadsOf.get(rule)
  if (reads !== undefined) return reads
  const text = rule.when.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''")
  const model = new Set<string>()
  const host = new Set<string>()
  const flow = new Set<string>()
  reads = {model: [], host: [], flow: []}
  // Names not after a dot (or inside a number): the roots of every path the expression reads.
  for (const m of text.matchAll(/(?<![\w.])[A-Za-z_]\w*/g)) {
    const name = m[0]
    const field = /^\s*\.\s*([A-Za-z_]\w*)/.exec(text.slice(m.index + name.length))
    if ((name === 'model' || name === 'host' || name === 'flow') && field) (name === 'model' ? model : name === 'host' ? host : flow).add(field[1]!)
    else if (!CEL_WORDS.has(name)) {
      reads = null
      break
    }
  }
  if (reads) reads = {model: [...model], host: [...host], flow: [...flow]}
  whenReadsOf.set(rule, reads)
  return reads
}

/** A rule or remedy gated on kernel facts runs only where all of them hold (src/facts/kernel-facts.ts). */
function factsHold(ids: string[] | undefined, params: HostParams): boolean {
  return ids === undefined || ids.every((id) => (params.facts as Record<string, boolean>)[id] === true)
}

function tryRemedy(
  rule: LoadedRule,
  spec: RemedySpec,
  ev: Evaluation,
  idx: number | null,
  ctx: Ctx,
  kernel?: string,
): {remedy: Remedy | null; outcome: RemedyTrial['outcome']} {
  if (!factsHold(spec.facts, ev.params)) return {remedy: null, outcome: 'gated'}
  if (spec.when && run(rule, spec.when, ctx, 'remedies.when') !== true) return {remedy: null, outcome: 'gated'}
  const sysctl = spec.sysctl
    ? Object.fromEntries(Object.entries(spec.sysctl).map(([k, t]) => [k, fillTemplate(t, ctx, rule.compiled, false)]))
    : undefined
  const flowPatch = spec.flow
    ? Object.fromEntries(Object.entries(spec.flow).map(([k, t]) => [k, parseValue(fillTemplate(t, ctx, rule.compiled, false))]))
    : undefined
  // A template that produced nothing usable (null, NaN) means the model has no value that works.
  const values = [...Object.values(sysctl ?? {}), ...Object.values(flowPatch ?? {})]
  if (values.some((v) => v === 'null' || v === 'NaN' || v === '' || (typeof v === 'number' && !Number.isFinite(v)))) return {remedy: null, outcome: 'no-value'}

  // The rule re-checked on the host with the remedy applied: its evidence there, or null if it still fires.
  const recheck = (afterCtx: Ctx) => (fires(rule, afterCtx) ? null : evidence(rule, afterCtx))
  let after: Record<string, Value> | null | undefined
  // Either change alone, for a flow, is judged on the whole host without re-running every flow,
  // unless the rule reads what that leaves out (NEED_WHOLE_HOST): a change to this flow on the
  // flow and the host's totals (changedFlow); a host-wide setting on the host's accounting under
  // it (changedSettings). A local rule takes this path too (it was re-run on its flow alone when
  // that flow's model alone was its model on the host, modelIsPerFlow): changedFlow is the whole
  // host's answer, O(1) as well, and judgement re-uses its model.
  if (!ev.exhaustive && !flowPatch !== !sysctl && idx !== null) {
    try {
      if (flowPatch) {
        after = recheck(changedFlow(ev, idx, patchFlow(ev.flows[idx]!, flowPatch as Parameters<typeof patchFlow>[1])).ctx)
      } else {
        const facts = changedFacts(rule, ev, sysctl!)
        after = recheck(changedSettings(ev, JSON.stringify(sysctl), facts, paramsFor(ev, sysctl!, facts, kernel), idx))
      }
    } catch (error) {
      if (error !== NEED_WHOLE_HOST) throw error
    }
  }
  if (after === undefined) {
    const rerunOf = rerun(rule, ev, idx, sysctl, flowPatch, kernel)
    after = recheck(contextFor(rerunOf.after, rerunOf.afterIdx))
  }
  if (after === null) return {remedy: null, outcome: 'rejected'}
  const remedy: Remedy = Object.assign(
    {},
    sysctl ? {sysctl} : {},
    flowPatch ? {flow: flowPatch as Record<string, number | string | boolean>} : {},
    spec.action ? {action: fillTemplate(spec.action, ctx, rule.compiled, true)} : {},
    {why: fillTemplate(spec.why, ctx, rule.compiled, true), after},
  )
  return {remedy, outcome: 'offered'}
}

/**
 * The host with a remedy applied, as the rule at `idx` sees it. Linear cost in flows: a rule that
 * reads only its own flow, its model and the host's settings (isLocalRule) is re-run on that flow
 * alone, in O(1); any other rule re-runs the whole host, once per distinct patch.
 */
function rerun(
  rule: LoadedRule,
  ev: Evaluation,
  idx: number | null,
  sysctl: Record<string, string> | undefined,
  flowPatch: Record<string, unknown> | undefined,
  kernel: string | undefined,
): {after: Evaluation; afterIdx: number | null} {
  const facts = sysctl ? changedFacts(rule, ev, sysctl) : ev.facts
  const patched = (f: Flow) => (flowPatch ? patchFlow(f, flowPatch as Parameters<typeof patchFlow>[1]) : f)
  if (!ev.exhaustive && idx !== null && isLocalRule(rule) && modelIsPerFlow(ev, idx)) {
    const params = sysctl ? paramsFor(ev, sysctl, facts, kernel) : ev.params
    return {after: evaluation(facts, [patched(ev.flows[idx]!)], kernel, params), afterIdx: 0}
  }
  const key = JSON.stringify([sysctl ?? null, flowPatch ?? null, flowPatch ? idx : null])
  const reruns = (ev.reruns ??= new Map())
  let after = ev.exhaustive ? undefined : reruns.get(key)
  if (!after) {
    const flows = flowPatch && idx !== null ? ev.flows.map((f, i) => (i === idx ? patched(f) : f)) : ev.flows
    after = sysctl ? evaluation(facts, flows, kernel, undefined, {from: ev}) : evaluation(facts, flows, kernel, ev.params, {from: ev})
    // Kept for the next rule with the same patch, unless it changes one flow: a host's worth of
    // model per flow would make memory quadratic (one-flow changes are judged by changedFlow).
    if (!ev.exhaustive && !(flowPatch && idx !== null)) reruns.set(key, after)
  }
  return {after, afterIdx: idx}
}

/** The host's facts with a remedy's sysctls set. */
function changedFacts(rule: LoadedRule, ev: Evaluation, sysctl: Record<string, string>): Facts {
  // Copying a dump's ~1,300 sysctls per remedy is most of the cost; a rule whose expressions do
  // not read `sysctl` only needs the model's keys, which an object layered on the dump answers.
  const sysctls = ev.exhaustive || readsSysctl(rule) ? Object.assign({}, ev.facts.sysctls, sysctl) : Object.assign(Object.create(ev.facts.sysctls) as Record<string, string>, sysctl)
  return Object.assign({}, ev.facts, {sysctls})
}

/**
 * Whether this flow's model, computed on the flow alone, is the one the whole host gave it: the
 * guard that keeps the one-flow re-run honest if the model ever derives a flow's numbers from the
 * other flows (a shared cap split among flows, say). Checked once per flow; when it fails, that
 * flow's remedies take the whole-host path.
 */
function modelIsPerFlow(ev: Evaluation, idx: number): boolean {
  const known = (ev.perFlow ??= [])[idx]
  if (known !== undefined) return known
  const alone = runModel(ev.params, [ev.flows[idx]!]).flows[0]
  // Field by field (stricter than comparing their JSON: -0, NaN and absent keys count): two
  // JSON texts of a ~90-field model per flow were a large share of this check at 10,000 flows.
  const same = sameValue(alone, ev.model.flows[idx])
  ev.perFlow[idx] = same
  return same
}

/** hostParams for a sysctl patch, once per host and patch. */
function paramsFor(ev: Evaluation, sysctl: Record<string, string>, facts: Facts, kernel: string | undefined): HostParams {
  const key = `params:${JSON.stringify(sysctl)}`
  const reruns = (ev.reruns ??= new Map())
  const hit = reruns.get(key)
  if (hit) return hit.params
  const params = hostParams(facts, kernel)
  reruns.set(key, {facts, flows: [], params, model: {host: ev.model.host, flows: []}, base: {}, flowContexts: []})
  return params
}

/**
 * Host fields that come from the host's settings alone (hostParams), not from its other flows.
 * A rule that reads only these, its own `flow` and `model`, `sysctl` and `counters` gives the same
 * verdict whether the model ran on the whole host or on its flow alone.
 */
const HOST_SETTINGS = new Set([
  'kernel', 'kernelCode', 'kernelRelease', 'kernelKnown', 'portRangeLow', 'portRangeHigh', 'portRangeDeclared', 'reservedPorts',
  'unprivilegedPortStart', 'twReuse', 'twReuseDelayMs', 'timestamps', 'maxTwBuckets', 'rfc1337', 'twRecycle', 'finTimeoutSeconds',
  'vendorTimeWaitSeconds', 'conntrackTimeWaitSeconds', 'timeWaitSeconds', 'usablePorts', 'reservedInRange',
])
const localRules = new WeakMap<LoadedRule, boolean>()
const sysctlReaders = new WeakMap<LoadedRule, boolean>()

/** True when an expression of the rule reads the `sysctl` map (CEL looks at own keys only). */
function readsSysctl(rule: LoadedRule): boolean {
  let reads = sysctlReaders.get(rule)
  if (reads === undefined) {
    const text = JSON.stringify([rule.when, rule.message, rule.evidence, rule.remedies.map((r) => [r.when, r.why, r.action, r.flow, Object.values(r.sysctl ?? {})])])
    reads = /\bsysctl\b/.test(text)
    sysctlReaders.set(rule, reads)
  }
  return reads
}

/** True when every expression of the rule reads only its own flow and the host's settings (conservative: by name). */
export function isLocalRule(rule: LoadedRule): boolean {
  let local = localRules.get(rule)
  if (local === undefined) {
    const text = JSON.stringify([rule.when, rule.message, rule.evidence, rule.remedies])
    const hostFields = [...text.matchAll(/\bhost\s*(\.\s*([A-Za-z_]\w*)|\[)/g)].map((m) => m[2])
    local = !/\b(models|flows)\b/.test(text) && hostFields.every((f) => f !== undefined && HOST_SETTINGS.has(f))
    localRules.set(rule, local)
  }
  return local
}

function findWaiver(topology: Topology, cli: string[], id: string, flow?: string): string | undefined {
  for (const w of cli) {
    const [wid, wflow] = w.split(':')
    if (wid === id && (wflow === undefined || wflow === flow)) return 'waived on the command line'
  }
  const w = topology.waivers.find((x) => x.id === id && (x.flow === undefined || x.flow === flow))
  return w?.reason
}

