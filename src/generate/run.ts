import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import type {HostReport, Rule} from '../rules/types.js'
import type {ApplyResult} from './apply.js'
import type {KeyAtBoot} from './boot.js'
import {unifiedDiff} from './diff.js'
import {hasTwadvisorHeader, renderContext} from './header.js'
import {atCarriedLine, carryable, parseOwnSysctlD, planIsCurrent, withCarriedOver, type Dropped} from './carry.js'
import {planFromReport, type Plan} from './plan.js'
import {TARGETS, type TargetName} from './targets/index.js'
import {validatePlan} from './validate.js'
import {verifyRendered} from './verify.js'
import {readExisting, writeFileAtomic, type WriteResult} from './write.js'

/**
 * `twadvisor generate` as a library call: report → plan → validation → target text → (write |
 * diff | check) → (apply). The command only parses flags and prints what this returns; the
 * wizard and the Ansible role call the same functions.
 */
export interface GenerateRequest {
  report: HostReport
  facts: Facts
  /** The topology file the report came from (named in the header). */
  topologyFile: string
  target: TargetName
  /** Write here (atomically); without it the text goes to stdout. */
  output?: string
  force?: boolean
  /** Print a unified diff against `output`; writes nothing. */
  diff?: boolean
  /** Exit 2 when `output` would change; writes nothing. */
  check?: boolean
  /** Load the written sysctl.d file into the kernel (root). */
  apply?: boolean
  /** Apply inside this network namespace (the one the facts were read from). */
  netns?: string
  /** Root of the systemd-sysctl search path (tests inject a scratch tree). */
  bootRoot?: string
  /** The rules the report came from: they say which keys of an existing file twadvisor wrote (default: loaded). */
  rules?: Pick<Rule, 'id' | 'remedies'>[]
}

export interface GenerateResult {
  plan: Plan
  target: TargetName
  text: string
  warnings: string[]
  output?: string
  /** True when `output` differs from `text` (before writing). */
  changed?: boolean
  /** The existing file was not written by twadvisor (writing it would need --force). */
  foreign?: boolean
  diff?: string
  /** Keys kept from the existing file (twadvisor wrote them; their findings are gone now). */
  carried?: string[]
  /** Settings of the existing file not kept, with their line and why. */
  dropped?: Dropped[]
  write?: WriteResult
  apply?: ApplyResult
  boot?: KeyAtBoot[]
  /** The path systemd-sysctl knows the output by, or null when it does not load it at boot. */
  bootName?: string | null
  exitCode: 0 | 2
}

/** A live read opens only the keys the model needs; /proc/sys answers for the rest. */
export function liveKeyExists(key: string, procRoot = '/proc'): boolean {
  return existsSync(`${procRoot}/sys/${key.replace(/\./g, '/')}`)
}

/** Plan, validation (a live source asks /proc/sys about keys it did not read) and the target's text; writes nothing. */
export function renderPlan(report: HostReport, facts: Facts, topologyFile: string, target: TargetName): {plan: Plan; text: string; warnings: string[]} {
  return renderFromPlan(planFromReport(report), facts, topologyFile, target)
}

function renderFromPlan(plan: Plan, facts: Facts, topologyFile: string, target: TargetName): {plan: Plan; text: string; warnings: string[]} {
  const {warnings} = validatePlan(plan, facts, facts.source === 'live' ? {keyExists: (k) => liveKeyExists(k)} : {})
  const text = TARGETS[target].render(plan, renderContext(plan, topologyFile))
  verifyRendered(target, text, plan)
  return {plan, text, warnings}
}

function needsOutput(flag: string): TwError {
  return new TwError('generate.output', 'needs --output FILE', {position: {field: flag}, hint: 'e.g. --output /etc/sysctl.d/60-twadvisor.conf'})
}

export async function generate(req: GenerateRequest): Promise<GenerateResult> {
  if (req.apply && req.target !== 'sysctl.d') {
    throw new TwError('generate.apply-target', `--apply loads a sysctl.d file; --target ${req.target} is applied by its own tool`, {position: {field: '--apply'}})
  }
  if (req.apply && (req.check || req.diff)) {
    throw new TwError('generate.apply-mode', '--apply cannot be combined with --check or --diff (they never write)', {position: {field: '--apply'}})
  }
  if (req.apply) (await import('./apply.js')).requireRoot()
  let {plan, text, warnings} = renderPlan(req.report, req.facts, req.topologyFile, req.target)
  if (req.output === undefined) {
    const base = {plan, target: req.target, text, warnings}
    if (req.diff) throw needsOutput('--diff')
    if (req.check) throw needsOutput('--check')
    if (req.apply) throw needsOutput('--apply')
    return {...base, exitCode: 0}
  }
  // resolve('') is the working directory: an empty --output names no file.
  if (req.output.trim() === '') throw new TwError('generate.output', 'is empty; name a file', {position: {field: '--output'}, hint: 'e.g. --output /etc/sysctl.d/60-twadvisor.conf'})
  const output = resolve(req.output)
  const existing = await readExisting(output)
  const foreign = existing !== null && !hasTwadvisorHeader(existing)
  // A file twadvisor wrote keeps its settings: once a remedy is in force its finding is gone
  // and the fresh plan would drop it (and the next boot would undo the fix).
  let carried: string[] | undefined
  let dropped: Dropped[] | undefined
  if (existing !== null && !foreign && req.target === 'sysctl.d') {
    const previous = parseOwnSysctlD(existing)
    const rules = req.rules ?? (await import('../rules/load.js')).loadRules()
    const kept = carryable(previous, rules)
    dropped = kept.dropped
    const merged = withCarriedOver(plan, kept.carry)
    carried = merged.carried.map((e) => e.key)
    if (planIsCurrent(plan, previous, kept.dropped)) {
      text = existing
    } else {
      try {
        ;({plan, text, warnings} = renderFromPlan(merged.plan, req.facts, req.topologyFile, req.target))
      } catch (error) {
        throw atCarriedLine(error, output, merged.carried)
      }
    }
  }
  const changed = existing !== text
  const base = {plan, target: req.target, text, warnings, ...(carried?.length ? {carried} : {}), ...(dropped?.length ? {dropped} : {})}
  if (req.diff || req.check) {
    const diff = req.diff ? unifiedDiff(existing ?? '', text, {oldLabel: existing === null ? '/dev/null' : output, newLabel: output}) : undefined
    return {...base, output, changed, foreign, ...(diff === undefined ? {} : {diff}), exitCode: req.check && changed ? 2 : 0}
  }
  const write = await writeFileAtomic(output, text, {force: req.force})
  const result: GenerateResult = {...base, output, changed, foreign, write, exitCode: 0}
  if (req.apply) {
    const {applySysctlFile} = await import('./apply.js')
    const {bootSettings, searchPathName} = await import('./boot.js')
    result.apply = await applySysctlFile(output, plan.entries, req.netns === undefined ? {} : {netns: req.netns})
    result.boot = await bootSettings(plan.entries.map((e) => e.key), {root: req.bootRoot ?? '/'})
    result.bootName = searchPathName(output, req.bootRoot ?? '/')
  }
  return result
}
