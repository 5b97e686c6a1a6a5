// The engine's shortcuts for judging a changed host (src/rules/engine.ts): a host-wide change
// re-uses the unchanged host's verdicts where every field a rule's `when` reads is equal
// (firedOn, whenReads, changedIndexes); a one-flow change is judged on that flow and the host's
// totals (changedFlow, firedOnChange); a remedy's re-check takes the same paths (tryRemedy). Each
// must give the definition's answer (the whole changed host evaluated again, `exhaustive`).
// test/harden/scale.test.ts checks that on random hosts; here each shortcut gets a host built so
// that taking it wrongly changes the answer, and the answer is worked out by hand as well.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import type {Facts} from '../../src/facts/types.js'
import {evaluateHost, firedWith, isLocalRule, type RemedyTrial} from '../../src/rules/engine.js'
import {loadRules, type LoadedRule} from '../../src/rules/load.js'
import type {Topology} from '../../src/topology/types.js'
import {makeFlow, type TestFlow} from '../flow.js'
import {writeRule} from './rule-file.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-fast-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

/** A rule in the scratch folder (its cases are only for the loader's own check). */
function rule(id: string, fields: {when: string; applies_to?: string; severity?: string; evidence?: string; remedies?: string[]}): LoadedRule {
  writeRule(dir, {id, ...fields})
  return loadRules(dir).find((r) => r.id === id)!
}

const hostFacts = (sysctls: Record<string, string> = {}): Facts => ({
  source: 't',
  kernel: parseKernel('6.8.0'),
  sysctls: {
    'kernel.osrelease': '6.8.0',
    'net.ipv4.ip_local_port_range': '32768 60999',
    'net.ipv4.tcp_tw_reuse': '2',
    'net.ipv4.tcp_timestamps': '1',
    'net.ipv4.tcp_fin_timeout': '60',
    'net.ipv4.tcp_max_tw_buckets': '262144',
    'net.netfilter.nf_conntrack_max': '262144',
    ...sysctls,
  },
  counters: {},
})
const topo = (...flows: TestFlow[]): Topology => ({file: 't.yaml', waivers: [], flows: flows.map((f) => makeFlow(f))})
const ids = (fired: {id: string; flow?: string}[]) => fired.map((f) => (f.flow ? `${f.id}:${f.flow}` : f.id))

/** firedWith on the fast path, held to the exhaustive one; returns "id:flow" of what fires. */
function both(facts: Facts, t: Topology, rules: LoadedRule[], sysctl: Record<string, string>, opts: Parameters<typeof firedWith>[4] = {}): string[] {
  const fast = firedWith(facts, t, rules, sysctl, opts)
  expect(fast).toEqual(firedWith(facts, t, rules, sysctl, {...opts, exhaustive: true}))
  return ids(fast)
}

describe('a host-wide change re-uses a verdict only where what the rule reads is equal', () => {
  it('a host field the rule reads moved (nf_conntrack_max) while no flow model did', () => {
    // conntrackMax comes from nf_conntrack_max alone; a plain client's model does not read it,
    // so both flows keep their model objects and only the host field tells the verdicts apart.
    const r = rule('conntrack-big', {when: 'host.conntrackMax > 1000 && flow.qps > 1.0'})
    const t = topo({name: 'a', qps: 50}, {name: 'b', qps: 60})
    expect(both(hostFacts(), t, [r], {})).toEqual(['conntrack-big:a', 'conntrack-big:b'])
    expect(both(hostFacts(), t, [r], {'net.netfilter.nf_conntrack_max': '500'})).toEqual([])
    expect(both(hostFacts(), t, [r], {'net.netfilter.nf_conntrack_max': '5000'})).toEqual(['conntrack-big:a', 'conntrack-big:b'])
  })

  it('a model field the rule reads moved (usablePorts under another ip_local_port_range)', () => {
    // 32768–60999 holds 28,232 ports; 40000–50999 holds 11,000: the rule's threshold (20,000)
    // lies between, so every client's verdict flips although no flow declaration changed.
    const r = rule('many-ports', {when: 'model.usablePorts > 20000'})
    const t = topo({name: 'a', qps: 50}, {name: 'b', qps: 60, keepalive: true})
    expect(both(hostFacts(), t, [r], {'net.ipv4.ip_local_port_range': '40000 50999'})).toEqual([])
    // A change that leaves the port range alone keeps them.
    expect(both(hostFacts(), t, [r], {'net.ipv4.tcp_fin_timeout': '30'})).toEqual(['many-ports:a', 'many-ports:b'])
    expect(both(hostFacts(), t, [r], {'net.ipv4.ip_local_port_range': '10000 60999'})).toEqual(['many-ports:a', 'many-ports:b'])
  })

  it('only the flow that changed is judged again; the others keep their place in the list', () => {
    // Three clients, the middle one changed by a patch that goes with a sysctl (not a one-flow
    // change): a and c keep firing, b (qps 50, under the rule's 100/s) stops.
    const r = rule('busy', {when: 'flow.qps > 100.0'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 600}, {name: 'c', qps: 600})
    expect(both(hostFacts(), t, [r], {'net.ipv4.tcp_fin_timeout': '30'}, {flow: {name: 'b', patch: {qps: 50}}})).toEqual(['busy:a', 'busy:c'])
    // And a flow that starts to fire, between two that do not.
    const quiet = topo({name: 'a', qps: 10}, {name: 'b', qps: 10}, {name: 'c', qps: 600})
    expect(both(hostFacts(), quiet, [r], {'net.ipv4.tcp_fin_timeout': '30'}, {flow: {name: 'b', patch: {qps: 900}}})).toEqual(['busy:b', 'busy:c'])
  })

  it('a rule that reads `sysctl` is evaluated again (its reads cannot be followed)', () => {
    const r = rule('ct-default', {when: "sysctl['net.netfilter.nf_conntrack_max'] == '262144' && flow.qps > 1.0"})
    const t = topo({name: 'a', qps: 50})
    expect(both(hostFacts(), t, [r], {})).toEqual(['ct-default:a'])
    expect(both(hostFacts(), t, [r], {'net.netfilter.nf_conntrack_max': '500'})).toEqual([])
  })

  it('a rule that names another variable (a macro\'s) is evaluated again', () => {
    // `flows.exists(f, ...)` reads every flow; raising b's qps (with a sysctl, so not a one-flow
    // change) makes the rule fire on a, whose own flow and model did not change.
    const r = rule('crowd', {when: 'flows.exists(f, f.qps > 500.0) && flow.qps > 1.0'})
    const t = topo({name: 'a', qps: 50}, {name: 'b', qps: 60, role: 'server'})
    expect(both(hostFacts(), t, [r], {})).toEqual([])
    expect(both(hostFacts(), t, [r], {'net.ipv4.tcp_fin_timeout': '30'}, {flow: {name: 'b', patch: {qps: 900}}})).toEqual(['crowd:a'])
  })

  it('a host rule is evaluated on the changed host', () => {
    const r = rule('ct-host', {applies_to: 'host', when: 'host.conntrackMax > 1000', evidence: '[host.conntrackMax]'})
    const t = topo({name: 'a', qps: 50})
    expect(both(hostFacts(), t, [r], {})).toEqual(['ct-host'])
    expect(both(hostFacts(), t, [r], {'net.netfilter.nf_conntrack_max': '500'})).toEqual([])
  })

  it('what fires on the unchanged host, at a severity: the findings of the report at it', () => {
    // The same state asked twice (all severities first, then critical only) gives two lists.
    const facts = hostFacts()
    const t = topo({name: 'a', qps: 600, closes_first: 'client'}, {name: 'b', qps: 10, closes_first: 'client'})
    const rules = loadRules()
    const report = evaluateHost(facts, t, rules)
    const critical = report.findings.filter((f) => f.severity === 'critical')
    // 600/s closing first from 28,232 ports runs out (470/s): a critical, next to lesser findings.
    expect(critical.length).toBeGreaterThan(0)
    expect(report.findings.length).toBeGreaterThan(critical.length)
    const fired = both(facts, t, rules, {}, {minSeverity: 'critical'})
    expect([...fired].sort()).toEqual(ids(critical).sort())
  })
})

describe('a one-flow change is judged on that flow and the host\'s totals', () => {
  it('the flow\'s own fields and model are compared, not its verdict kept', () => {
    const byFlow = rule('busy', {when: 'flow.qps > 100.0'})
    const byModel = rule('busy-model', {when: 'model.qps > 100.0'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 600})
    // Only a's verdicts (and host rules) are asked for: b is not in the list.
    expect(both(hostFacts(), t, [byFlow, byModel], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual([])
    expect(both(hostFacts(), t, [byFlow, byModel], {}, {flow: {name: 'a', patch: {keepalive: true}}})).toEqual(['busy:a', 'busy-model:a'])
    expect(both(hostFacts(), topo({name: 'a', qps: 10}), [byFlow, byModel], {}, {flow: {name: 'a', patch: {qps: 500}}})).toEqual(['busy:a', 'busy-model:a'])
    // A rule reading two fields of the flow: one changed is enough to evaluate it again.
    const two = rule('busy-open', {when: 'flow.qps > 100.0 && !flow.keepalive'})
    expect(both(hostFacts(), t, [two], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual([])
  })

  it('a host rule reading a host total the flow moves (TIME_WAIT entries) is evaluated again', () => {
    // a closes first at 600/s: 600 × 60 s = 36,000 TIME_WAIT entries on this host; at 10/s,
    // 600. b adds 10 × 60 = 600: 1,200 in all, under 10,000; raising b to 200/s leaves a's 36,000.
    const r = rule('many-tw', {applies_to: 'host', when: 'host.timeWaitTuples > 10000', evidence: '[host.timeWaitTuples]'})
    const t = topo({name: 'a', qps: 600, closes_first: 'client'}, {name: 'b', qps: 10, closes_first: 'client'})
    expect(both(hostFacts(), t, [r], {})).toEqual(['many-tw'])
    expect(both(hostFacts(), t, [r], {}, {flow: {name: 'a', patch: {qps: 10}}})).toEqual([])
    expect(both(hostFacts(), t, [r], {}, {flow: {name: 'b', patch: {qps: 200}}})).toEqual(['many-tw'])
    // And the other way: from 1,200 entries to 12,600 (b at 200/s).
    const calm = topo({name: 'a', qps: 10, closes_first: 'client'}, {name: 'b', qps: 10, closes_first: 'client'})
    expect(both(hostFacts(), calm, [r], {}, {flow: {name: 'b', patch: {qps: 200}}})).toEqual(['many-tw'])
  })

  it('a flow the topology does not have changes nothing: the host rules as they were', () => {
    const r = rule('ct-host', {applies_to: 'host', when: 'host.conntrackMax > 1000', evidence: '[host.conntrackMax]'})
    const busy = rule('busy', {when: 'flow.qps > 100.0'})
    const t = topo({name: 'a', qps: 600})
    expect(both(hostFacts(), t, [r, busy], {}, {flow: {name: 'nosuch', patch: {qps: 1}}})).toEqual(['ct-host'])
  })

  it('a rule that reads the other flows is judged on the whole changed host', () => {
    // b fires while some flow runs at more than 500/s: lowering a to 50/s leaves none.
    const r = rule('crowd', {when: 'flows.exists(f, f.qps > 500.0) && flow.qps > 1.0'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 60})
    expect(both(hostFacts(), t, [r], {})).toEqual(['crowd:a', 'crowd:b'])
    expect(both(hostFacts(), t, [r], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual([])
    // A host rule that reads the models of every flow, the same way.
    const h = rule('crowd-host', {applies_to: 'host', when: 'models.exists(m, m.qps > 500.0)', evidence: '[host.flowCount]'})
    expect(both(hostFacts(), t, [h], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual([])
    expect(both(hostFacts(), t, [h], {}, {flow: {name: 'b', patch: {qps: 700}}})).toEqual(['crowd-host'])
  })
})

describe('a one-flow change moves host.twCapIsCollisionRemedy (changedFlow counts the flows whose cap is a collision remedy)', () => {
  // tcp_max_tw_buckets 282, servers that close first at 600/s: 36,000 TIME_WAIT entries per
  // server, far over the cap (twOverflow). The cap is a collision remedy (tw-buckets-tradeoff,
  // info) while some server's senders share addresses (8 senders on 1 address) and 282 is at
  // most what safe reuse needs there (collisionRemedyCap); else the overflow is a warning
  // (tw-buckets-overflow).
  const facts = () => hostFacts({'net.ipv4.tcp_max_tw_buckets': '282'})
  const server = (name: string, senders: number): TestFlow => ({name, role: 'server', qps: 600, closes_first: 'server', keepalive: true, senders})
  const capRules = () => loadRules().filter((r) => r.id === 'tw-buckets-overflow' || r.id === 'tw-buckets-tradeoff')

  it('the only sharing server stops sharing: the cap is no longer a collision remedy', () => {
    const t = topo(server('s1', 8), server('s2', 1))
    expect(both(facts(), t, capRules(), {}, {minSeverity: 'info'})).toEqual(['tw-buckets-tradeoff'])
    expect(both(facts(), t, capRules(), {}, {minSeverity: 'info', flow: {name: 's1', patch: {senders: 1}}})).toEqual(['tw-buckets-overflow'])
  })

  it('a server starts sharing: now it is', () => {
    const t = topo(server('s1', 1), server('s2', 1))
    expect(both(facts(), t, capRules(), {}, {minSeverity: 'info'})).toEqual(['tw-buckets-overflow'])
    expect(both(facts(), t, capRules(), {}, {minSeverity: 'info', flow: {name: 's2', patch: {senders: 8}}})).toEqual(['tw-buckets-tradeoff'])
  })

  it('one of two sharing servers stops: the other still makes it one', () => {
    const t = topo(server('s1', 8), server('s2', 8))
    expect(both(facts(), t, capRules(), {}, {minSeverity: 'info', flow: {name: 's1', patch: {senders: 1}}})).toEqual(['tw-buckets-tradeoff'])
    // A change that leaves the sharing alone leaves it too.
    expect(both(facts(), topo(server('s1', 8), server('s2', 1)), capRules(), {}, {minSeverity: 'info', flow: {name: 's2', patch: {qps: 300}}})).toEqual(['tw-buckets-tradeoff'])
  })
})

describe('a remedy\'s re-check takes the fast paths and gives the whole host\'s answer', () => {
  const offered = (facts: Facts, t: Topology, rules: LoadedRule[]) => {
    const trials: RemedyTrial[] = []
    const fast = evaluateHost(facts, t, rules, {onRemedy: (x) => trials.push(x), judgeOnHost: false})
    expect(fast).toEqual(evaluateHost(facts, t, rules, {judgeOnHost: false, exhaustive: true}))
    return {findings: fast.findings, outcomes: trials.map((x) => `${x.flow}:${x.sets.join('+')}:${x.outcome}`)}
  }

  it('a remedy that sets sysctls and changes the flow is re-checked with both', () => {
    // Fires unless tcp_tw_reuse is 1 and the flow keeps its connections: either change alone
    // leaves it firing, both clear it.
    const r = rule('both', {
      when: 'host.twReuse != 1 || !flow.keepalive',
      evidence: '[host.twReuse, flow.keepalive]',
      remedies: ['  - sysctl: {net.ipv4.tcp_tw_reuse: "1"}', '    flow: {keepalive: "true"}', '    why: both', '  - sysctl: {net.ipv4.tcp_tw_reuse: "1"}', '    why: one', '  - flow: {keepalive: "true"}', '    why: other'],
    })
    const {findings, outcomes} = offered(hostFacts(), topo({name: 'a', qps: 600}), [r])
    expect(outcomes).toEqual(['a:net.ipv4.tcp_tw_reuse+keepalive:offered', 'a:net.ipv4.tcp_tw_reuse:rejected', 'a:keepalive:rejected'])
    expect(findings[0]!.remedies[0]!.after).toEqual({twReuse: 1, keepalive: true})
  })

  it('a rule that reads `sysctl` sees the whole changed dump, in `when` and in its evidence', () => {
    // The remedy sets tcp_tw_reuse; the rule also reads tcp_timestamps, which it does not set:
    // the changed host still has it (1).
    const inWhen = rule('ts-when', {
      // (CEL's `&&` would swallow an error on one side when the other is false: `||` after a false does not.)
      when: "host.twReuse != 1 && flow.qps > 100.0 || sysctl['net.ipv4.tcp_timestamps'] != '1'",
      evidence: '[host.twReuse]',
      remedies: ['  - sysctl: {net.ipv4.tcp_tw_reuse: "1"}', '    why: reuse'],
    })
    const inEvidence = rule('ts-evidence', {
      when: 'host.twReuse != 1 && flow.qps > 100.0',
      evidence: `[host.twReuse, "sysctl['net.ipv4.tcp_timestamps']"]`,
      remedies: ['  - sysctl: {net.ipv4.tcp_tw_reuse: "1"}', '    why: reuse'],
    })
    const {findings, outcomes} = offered(hostFacts(), topo({name: 'a', qps: 600}), [inWhen, inEvidence])
    expect(outcomes).toEqual(['a:net.ipv4.tcp_tw_reuse:offered', 'a:net.ipv4.tcp_tw_reuse:offered'])
    expect(findings.map((f) => [f.id, f.remedies[0]!.after])).toEqual([
      ['ts-evidence', {twReuse: 1, 'net.ipv4.tcp_timestamps': '1'}],
      ['ts-when', {twReuse: 1}],
    ])
  })

  it('a flow remedy for a rule that reads the other flows, and one for a rule that reads its model', () => {
    // crowd fires on a flow while some flow runs above 500/s: slowing a alone clears a (b is at
    // 60/s), slowing b does not clear b (a still runs at 600/s).
    const crowd = rule('crowd', {when: 'flows.exists(f, f.qps > 500.0) && flow.qps > 1.0', remedies: ['  - flow: {qps: "50"}', '    why: slower']})
    const {outcomes} = offered(hostFacts(), topo({name: 'a', qps: 600}, {name: 'b', qps: 60}), [crowd])
    expect(outcomes).toEqual(['a:qps:offered', 'b:qps:rejected'])
    // The model of the changed flow on the whole host: 600/s closing first from 28,232 ports
    // runs out; at 50/s it does not (50 × 60 = 3,000 ports in TIME_WAIT).
    const exhausted = rule('exhausted', {
      when: 'size(flows) > 0 && model.portExhaustion',
      evidence: '[model.qps]',
      remedies: ['  - flow: {qps: "50"}', '    why: slower', '  - flow: {qps: "590"}', '    why: barely'],
    })
    const out = offered(hostFacts(), topo({name: 'a', qps: 600, closes_first: 'client'}, {name: 'b', qps: 10}), [exhausted])
    expect(out.outcomes).toEqual(['a:qps:offered', 'a:qps:rejected'])
    expect(out.findings[0]!.remedies[0]!.after).toEqual({qps: 50})
  })
})

describe('which rules and flows the shortcuts ask, and in what order', () => {
  // A rule with a severity and a kernel-fact gate.
  function gated(id: string, severity: string, facts: string[], when: string, appliesTo = 'client'): LoadedRule {
    writeRule(dir, {id, severity, facts, when, applies_to: appliesTo, evidence: '[host.flowCount]'})
    return loadRules(dir).find((r) => r.id === id)!
  }

  it('only rules at or above the severity asked, and only those whose kernel facts hold', () => {
    // Kernel 6.8: tcp_tw_reuse_delay (6.14) is not there, per-destination port tables (5.12) are.
    const rules = [
      gated('w', 'warning', [], 'flow.qps > 1.0'),
      gated('i', 'info', [], 'flow.qps > 1.0'),
      gated('c', 'critical', [], 'flow.qps > 1.0'),
      gated('new', 'critical', ['tw_reuse_delay_sysctl'], 'flow.qps > 1.0'),
      gated('old', 'critical', ['port_per_destination_table'], 'flow.qps > 1.0'),
      gated('h-new', 'critical', ['tw_reuse_delay_sysctl'], 'host.flowCount > 0', 'host'),
    ]
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 600})
    const warnings = ['w:a', 'c:a', 'old:a', 'w:b', 'c:b', 'old:b']
    // The unchanged host, a host-wide change (tcp_fin_timeout), a one-flow change (a's keep-alive).
    expect([...both(hostFacts(), t, rules, {}, {minSeverity: 'warning'})].sort()).toEqual([...warnings].sort())
    expect([...both(hostFacts(), t, rules, {'net.ipv4.tcp_fin_timeout': '30'}, {minSeverity: 'warning'})].sort()).toEqual([...warnings].sort())
    expect(both(hostFacts(), t, rules, {}, {minSeverity: 'warning', flow: {name: 'a', patch: {keepalive: true}}})).toEqual(['w:a', 'c:a', 'old:a'])
    expect(both(hostFacts(), t, rules, {}, {minSeverity: 'critical', flow: {name: 'a', patch: {qps: 700}}})).toEqual(['c:a', 'old:a'])
    expect(both(hostFacts(), t, rules, {}, {minSeverity: 'info', flow: {name: 'b', patch: {qps: 700}}})).toEqual(['w:b', 'i:b', 'c:b', 'old:b'])
  })

  it('a rule for clients is not asked about a server, on either path', () => {
    // The server's change moves nothing for a client rule; an `any` rule sees it.
    const client = gated('busy', 'warning', [], 'flow.qps > 100.0')
    const any = gated('busy-any', 'warning', [], 'flow.qps > 100.0', 'any')
    const t = topo({name: 'a', qps: 10}, {name: 's', role: 'server', qps: 10, closes_first: 'server'})
    expect(both(hostFacts(), t, [client, any], {}, {flow: {name: 's', patch: {qps: 600}}})).toEqual(['busy-any:s'])
    expect(both(hostFacts(), t, [client, any], {'net.ipv4.tcp_fin_timeout': '30'}, {flow: {name: 's', patch: {qps: 600}}})).toEqual(['busy-any:s'])
  })

  it('a one-flow change that needs the whole host for one rule still asks only that flow of the others', () => {
    // crowd reads every flow (the whole changed host is evaluated); busy reads a's own qps.
    // Slowing a to 50/s: crowd still fires on a (b runs at 600/s), busy no longer does, and b,
    // unchanged, is not in the answer (a one-flow change is asked about that flow only).
    const crowd = rule('crowd', {when: 'flows.exists(f, f.qps > 500.0) && flow.qps > 1.0'})
    const busy = rule('busy', {when: 'flow.qps > 100.0'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 600})
    expect(both(hostFacts(), t, [crowd, busy], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual(['crowd:a'])
  })

  it('a host-wide change that re-models some flows: the others keep their verdicts, in flow order', () => {
    // A narrower ip_local_port_range moves the clients' usable ports (28,232 to 11,000) and
    // not the servers' (what their clients use, the default range here): the clients stop
    // firing, the servers between them keep firing.
    const ports = gated('ports', 'warning', [], 'model.usablePorts > 20000', 'any')
    const mixed = topo({name: 'c1', qps: 10}, {name: 's1', role: 'server', qps: 10}, {name: 'c2', qps: 10}, {name: 's2', role: 'server', qps: 10})
    expect(both(hostFacts(), mixed, [ports], {})).toEqual(['ports:c1', 'ports:s1', 'ports:c2', 'ports:s2'])
    expect(both(hostFacts(), mixed, [ports], {'net.ipv4.ip_local_port_range': '40000 50999'})).toEqual(['ports:s1', 'ports:s2'])
    // And back: from the narrow range to the wide one, the clients start firing in their places.
    const narrow = hostFacts({'net.ipv4.ip_local_port_range': '40000 50999'})
    expect(both(narrow, mixed, [ports], {})).toEqual(['ports:s1', 'ports:s2'])
    expect(both(narrow, mixed, [ports], {'net.ipv4.ip_local_port_range': '32768 60999'})).toEqual(['ports:c1', 'ports:s1', 'ports:c2', 'ports:s2'])
    // A client rule is not asked about the servers a change re-models (tcp_max_tw_buckets moves
    // only servers that close first): the clients keep their verdicts and the servers stay out.
    const clientPorts = gated('client-ports', 'warning', [], 'model.usablePorts > 20000')
    const closing = topo({name: 'c1', qps: 10}, {name: 's1', role: 'server', qps: 600, closes_first: 'server'}, {name: 'c2', qps: 10})
    expect(both(hostFacts(), closing, [clientPorts], {'net.ipv4.tcp_max_tw_buckets': '5000'})).toEqual(['client-ports:c1', 'client-ports:c2'])
  })
})

describe('what a shortcut cannot compute is left to the whole host (deferred host fields)', () => {
  // The host of test/rules/host-remedies.test.ts: a (1,200/s, closing first toward one
  // destination) needs 72,000 ports and has 64,512; it gets by because the host, at 88,512
  // TIME_WAIT entries, overflows its 70,000 cap: host.twOverflowKeepsPortsFor is [a].
  const facts = () => hostFacts({'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_max_tw_buckets': '70000', 'net.ipv4.tcp_tw_reuse_delay': '1000'})
  const t = () => topo({name: 'a', qps: 1200, closes_first: 'client', peer: '198.18.0.10:80'}, {name: 'b', qps: 400, closes_first: 'client', peer: '198.18.0.11:80'})
  const outcomes = (rules: LoadedRule[]) => {
    const trials: RemedyTrial[] = []
    const fast = evaluateHost(facts(), t(), rules, {onRemedy: (x) => trials.push(x), judgeOnHost: false})
    expect(fast).toEqual(evaluateHost(facts(), t(), rules, {judgeOnHost: false, exhaustive: true}))
    return trials.map((x) => `${x.flow}:${x.outcome}`)
  }

  it('host.twOverflowKeepsPortsFor after a settings change (tcp_fin_timeout moves no TIME_WAIT entry)', () => {
    const r = rule('kept', {
      when: '(size(host.twOverflowKeepsPortsFor) > 0 || host.finTimeoutSeconds > 30) && flow.qps > 100.0',
      remedies: ['  - sysctl: {net.ipv4.tcp_fin_timeout: "30"}', '    why: shorter'],
    })
    // a is still kept by the overflow with the shorter FIN timeout: the finding stays, on both flows.
    expect(outcomes([r])).toEqual(['a:rejected', 'b:rejected'])
  })

  it('host.twCapIsCollisionRemedy after a settings change', () => {
    // A server whose 8 senders share one address, under a 282-entry cap: the cap is a collision
    // remedy (test above); tcp_fin_timeout does not change that.
    const r = rule('capped', {
      applies_to: 'any',
      when: '(host.twCapIsCollisionRemedy || host.finTimeoutSeconds > 30) && flow.qps > 100.0',
      remedies: ['  - sysctl: {net.ipv4.tcp_fin_timeout: "30"}', '    why: shorter'],
    })
    const facts282 = hostFacts({'net.ipv4.tcp_max_tw_buckets': '282'})
    const servers = topo({name: 's', role: 'server', qps: 600, closes_first: 'server', keepalive: true, senders: 8})
    const trials: RemedyTrial[] = []
    const fast = evaluateHost(facts282, servers, [r], {onRemedy: (x) => trials.push(x), judgeOnHost: false})
    expect(fast).toEqual(evaluateHost(facts282, servers, [r], {judgeOnHost: false, exhaustive: true}))
    expect(trials.map((x) => `${x.flow}:${x.outcome}`)).toEqual(['s:rejected'])
  })

  it('host.twOverflowKeepsPortsFor after a one-flow change that moves no TIME_WAIT entry', () => {
    // More server endpoints for b widen its tuple space; its 400 × 60 = 24,000 entries stay, so
    // the host still overflows and a is still kept by it: b's finding stays. For a itself, two
    // endpoints give it 2 × 64,512 tuples for its 72,000 in TIME_WAIT: it no longer needs the
    // overflow, the list is empty, and a's finding clears.
    const r = rule('kept-flow', {
      when: '(size(host.twOverflowKeepsPortsFor) > 0 || flow.server_endpoints < 2) && flow.qps > 100.0',
      remedies: ['  - flow: {server_endpoints: "2"}', '    why: more'],
    })
    expect(outcomes([r])).toEqual(['a:offered', 'b:rejected'])
  })
})

describe('host judgement through the engine: the created findings\' fixes', () => {
  it('a created flow finding takes its first offered sysctl remedy, a created host finding its own', () => {
    // A (a flow warning) is cleared by tcp_fin_timeout 30. That setting makes B fire on flow b
    // and host rule H fire, both warnings, neither there before: A's remedy must come with their
    // fixes. B's remedies, in order: a flow change (no sysctl: not a fix), nf_conntrack_max 2000
    // (B still fires: 2000 > 1000; rejected), tcp_tw_reuse 1 (clears B: its fix). H's: nf_conntrack_max
    // 500. Together (fin 30, reuse 1, conntrack 500) nothing fires: the combination holds.
    const a = rule('a-rule', {when: 'host.finTimeoutSeconds > 30 && flow.qps > 100.0', remedies: ['  - sysctl: {net.ipv4.tcp_fin_timeout: "30"}', '    why: shorter']})
    const b = rule('b-rule', {
      when: 'host.finTimeoutSeconds <= 30 && host.twReuse != 1 && host.conntrackMax > 1000 && flow.qps < 100.0 && flow.qps > 5.0',
      remedies: ['  - flow: {qps: "1"}', '    why: slower', '  - sysctl: {net.netfilter.nf_conntrack_max: "2000"}', '    why: smaller', '  - sysctl: {net.ipv4.tcp_tw_reuse: "1"}', '    why: reuse'],
    })
    const h = rule('h-rule', {applies_to: 'host', when: 'host.finTimeoutSeconds <= 30 && host.conntrackMax > 1000', evidence: '[host.conntrackMax]', remedies: ['  - sysctl: {net.netfilter.nf_conntrack_max: "500"}', '    why: smaller']})
    // And a finding with no remedy at all (judgement still runs for the others).
    const plain = rule('plain', {severity: 'info', when: 'flow.qps > 5.0'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 10})
    const report = evaluateHost(hostFacts(), t, [a, b, h, plain])
    expect(report).toEqual(evaluateHost(hostFacts(), t, [a, b, h, plain], {exhaustive: true}))
    expect(report.findings.map((f) => `${f.id}:${f.flow}`)).toEqual(['a-rule:a', 'plain:a', 'plain:b'])
    const [remedy] = report.findings[0]!.remedies
    expect(remedy?.sysctl).toEqual({'net.ipv4.tcp_fin_timeout': '30', 'net.ipv4.tcp_tw_reuse': '1', 'net.netfilter.nf_conntrack_max': '500'})
    expect(remedy?.combinedWith).toEqual(['b-rule:b', 'h-rule'])
  })
})

describe('a local rule is re-checked on its flow alone only where that is its model on the host', () => {
  it('which rules are local: they read their flow, its model and the host\'s settings, nothing made from the other flows', () => {
    const local = (when: string, evidence = '[flow.qps]') => isLocalRule(rule(`l${Math.abs(when.length * 31 + evidence.length)}`, {when, evidence}))
    expect(local('host.twReuse != 1 && model.qps > 1.0 && flow.qps > 1.0')).toBe(true)
    expect(local('flow.qps > 1.0', '[host.portRangeLow, host.usablePorts]')).toBe(true)
    // host.timeWaitTuples is a total over every flow; `host[...]` cannot be followed; flows/models are the others.
    expect(local('host.twReuse != 1 && host.timeWaitTuples > 1')).toBe(false)
    expect(local("host['twReuse'] != 1")).toBe(false)
    expect(local('size(flows) > 1')).toBe(false)
    expect(local('flow.qps > 1.0', '[models]')).toBe(false)
  })

  it('a flow the overflow keeps from running out is re-checked on the whole host, not alone', () => {
    // The host of the deferred-fields tests: on it a does not run out of ports (the overflow,
    // 88,512 entries over a 70,000 cap, keeps a share of its closes out of TIME_WAIT). Alone it
    // would keep 70,000 entries (its own overflow is smaller) on 64,512 ports and run out. The
    // rule is local (settings, flow, model); its remedy sets a sysctl and patches the flow (with
    // the value it has), so it takes the re-run path. With tcp_fin_timeout 30 the rule fires
    // where the flow does not run out: on the whole host, a and b still fire (rejected); on
    // a alone it would clear.
    const r = rule('kept-local', {
      when: 'host.finTimeoutSeconds > 30 || !model.portExhaustion',
      evidence: '[model.portExhaustion]',
      remedies: ['  - sysctl: {net.ipv4.tcp_fin_timeout: "30"}', '    flow: {server_endpoints: "1"}', '    why: shorter'],
    })
    expect(isLocalRule(r)).toBe(true)
    const facts = hostFacts({'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_max_tw_buckets': '70000', 'net.ipv4.tcp_tw_reuse_delay': '1000'})
    const t = topo({name: 'a', qps: 1200, closes_first: 'client', peer: '198.18.0.10:80'}, {name: 'b', qps: 400, closes_first: 'client', peer: '198.18.0.11:80'})
    const trials: RemedyTrial[] = []
    const fast = evaluateHost(facts, t, [r], {onRemedy: (x) => trials.push(x), judgeOnHost: false})
    expect(fast).toEqual(evaluateHost(facts, t, [r], {judgeOnHost: false, exhaustive: true}))
    expect(fast.model!.flows.map((m) => m.portExhaustion)).toEqual([false, false])
    expect(trials.map((x) => `${x.flow}:${x.outcome}`)).toEqual(['a:rejected', 'b:rejected'])
  })
})

describe('a remedy whose template gives nothing usable', () => {
  it('NaN and an empty value are "no-value", like null, for a sysctl and for a flow field', () => {
    const r = rule('nothing', {
      when: 'flow.qps > 100.0',
      remedies: [
        "  - sysctl: {net.ipv4.tcp_fin_timeout: '{{ flow.qps * 0.0 / 0.0 }}'}",
        '    why: nan',
        "  - sysctl: {net.ipv4.tcp_fin_timeout: \"{{ '' }}\"}",
        '    why: empty',
        "  - flow: {qps: '{{ flow.qps * 0.0 / 0.0 }}'}",
        '    why: nan',
        "  - flow: {peer: \"{{ '' }}\"}",
        '    why: empty',
        "  - flow: {qps: '{{ flow.qps / 12.0 }}'}",
        '    why: a real one',
      ],
    })
    const trials: RemedyTrial[] = []
    const report = evaluateHost(hostFacts(), topo({name: 'a', qps: 600}), [r], {onRemedy: (x) => trials.push(x)})
    expect(trials.map((x) => x.outcome)).toEqual(['no-value', 'no-value', 'no-value', 'no-value', 'offered'])
    expect(report.findings[0]!.remedies.map((x) => x.flow)).toEqual([{qps: 50}])
  })
})

describe('whole-host re-runs shared between equal patches', () => {
  it('two remedies of a host rule that set the same key to different values are two re-runs', () => {
    // Fires while tcp_fin_timeout is above 30 s: 45 leaves it firing (rejected), 30 clears it.
    const r = rule('fin-host', {
      applies_to: 'host',
      when: 'host.finTimeoutSeconds > 30',
      evidence: '[host.finTimeoutSeconds]',
      remedies: ['  - sysctl: {net.ipv4.tcp_fin_timeout: "45"}', '    why: a bit', '  - sysctl: {net.ipv4.tcp_fin_timeout: "30"}', '    why: enough', '  - sysctl: {net.ipv4.tcp_fin_timeout: "45"}', '    why: a bit again'],
    })
    const trials: RemedyTrial[] = []
    const report = evaluateHost(hostFacts(), topo({name: 'a', qps: 50}), [r], {onRemedy: (x) => trials.push(x)})
    expect(trials.map((x) => x.outcome)).toEqual(['rejected', 'offered', 'rejected'])
    expect(report.findings[0]!.remedies.map((x) => x.after)).toEqual([{finTimeoutSeconds: 30}])
  })
})

describe('gates, values and wording of remedies', () => {
  it('a rule gated on two kernel facts needs both; a remedy whose fact does not hold is gated', () => {
    // Kernel 6.8 has per-destination port tables (5.12), not tcp_tw_reuse_delay (6.14).
    const both2 = rule('two-facts', {when: 'flow.qps > 1.0'})
    const gatedRule = {...both2, facts: ['port_per_destination_table', 'tw_reuse_delay_sysctl']}
    expect(evaluateHost(hostFacts(), topo({name: 'a', qps: 50}), [gatedRule]).findings).toEqual([])
    const r = rule('gated-remedy', {when: 'flow.qps > 100.0', remedies: ['  - flow: {qps: "50"}', '    why: w', '    facts: [tw_reuse_delay_sysctl]', '  - flow: {qps: "50"}', '    why: w']})
    const trials: RemedyTrial[] = []
    evaluateHost(hostFacts(), topo({name: 'a', qps: 600}), [r], {onRemedy: (x) => trials.push(x)})
    expect(trials.map((x) => x.outcome)).toEqual(['gated', 'offered'])
  })

  it('one value with nothing usable is enough for no-value; why and action print numbers for people', () => {
    const r = rule('half', {
      when: 'flow.qps > 100.0',
      remedies: [
        "  - sysctl: {net.ipv4.tcp_fin_timeout: '30', net.ipv4.tcp_syn_retries: '{{ flow.qps * 0.0 / 0.0 }}'}",
        '    why: half',
        "  - flow: {qps: '50'}",
        "    why: '{{ flow.qps * 10.0 }} connects per 10 s'",
        "    action: 'pool {{ flow.qps * 10.0 }}'",
      ],
    })
    const trials: RemedyTrial[] = []
    const report = evaluateHost(hostFacts(), topo({name: 'a', qps: 600}), [r], {onRemedy: (x) => trials.push(x)})
    expect(trials.map((x) => x.outcome)).toEqual(['no-value', 'offered'])
    expect(report.findings[0]!.remedies.map((x) => [x.why, x.action])).toEqual([['6,000 connects per 10 s', 'pool 6,000']])
  })

  it('on a one-flow change, a host rule reading `flows` and a flow rule reading `models` get the whole host', () => {
    const h = rule('flows-host', {applies_to: 'host', when: 'flows.exists(f, f.qps > 500.0)', evidence: '[host.flowCount]'})
    const f = rule('models-flow', {when: 'models.exists(m, m.qps > 500.0)'})
    const t = topo({name: 'a', qps: 600}, {name: 'b', qps: 60})
    expect(both(hostFacts(), t, [h, f], {}, {flow: {name: 'a', patch: {qps: 50}}})).toEqual([])
    expect(both(hostFacts(), t, [h, f], {}, {flow: {name: 'b', patch: {qps: 700}}})).toEqual(['flows-host', 'models-flow:b'])
  })
})

describe('a host-wide change on a host whose overflow keeps a flow from running out', () => {
  it('host.twOverflowKeepsPortsFor after a new tcp_max_tw_buckets: the flows that run out on their first pass only', () => {
    // b (400/s, 24,000 entries toward its own destination) never runs out; a (1,200/s, 72,000
    // entries on 64,512 ports) runs out alone. With the cap at 75,000 the host's 88,512 entries
    // still overflow (share 1 − 75,000/88,512 = 15.3 %): a keeps 61,000 entries and gets by, so
    // the list is [a]; b, which would not run out anyway, is not in it.
    const r = rule('kept-one', {applies_to: 'host', when: 'size(host.twOverflowKeepsPortsFor) == 1', evidence: '[host.twOverflowKeepsPortsFor]'})
    const facts = hostFacts({'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_max_tw_buckets': '70000', 'net.ipv4.tcp_tw_reuse_delay': '1000'})
    const t = topo({name: 'b', qps: 400, closes_first: 'client', peer: '198.18.0.11:80'}, {name: 'a', qps: 1200, closes_first: 'client', peer: '198.18.0.10:80'})
    expect(both(facts, t, [r], {})).toEqual(['kept-one'])
    expect(both(facts, t, [r], {'net.ipv4.tcp_max_tw_buckets': '75000'})).toEqual(['kept-one'])
  })
})
