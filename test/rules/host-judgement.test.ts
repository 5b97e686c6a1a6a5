// judgeRemediesOnHost (src/rules/host-remedies.ts) with hand-made hooks instead of the engine: a
// remedy applied alone must not create a finding as severe as its own elsewhere on the host; if
// it would, the created finding's first sysctl fix joins it (a combination), or the remedy is not
// offered. The hooks say which findings fire on a changed host; each case below is the contract
// of the module's comments, played on a small table of states.
import {describe, expect, it} from 'vitest'

import {judgeRemediesOnHost, type HostHooks} from '../../src/rules/host-remedies.js'
import type {Finding, Remedy, Severity} from '../../src/rules/types.js'

type Fired = {id: string; flow?: string; severity: Severity}

const finding = (id: string, severity: Severity, remedies: Remedy[], flow?: string): Finding => ({id, severity, title: id, message: id, evidence: {}, remedies, references: [], ...(flow === undefined ? {} : {flow})})

/**
 * Hooks from a function of the changed state (the sysctls as "k=v" pairs, sorted, and the flow
 * patches) to what fires there. `fixes` answers from a table by finding id. Every call is logged.
 */
function hooks(firedOn: (sysctl: Record<string, string>, patches: Map<string, Record<string, unknown>>) => Fired[], fixes: Record<string, Remedy | undefined> = {}) {
  const calls: {sysctl: Record<string, string>; patches: [string, Record<string, unknown>][]; minSeverity?: Severity; onlyFlow?: string}[] = []
  const h: HostHooks = {
    fired(sysctl, patches, minSeverity, onlyFlow) {
      calls.push({sysctl: {...sysctl}, patches: [...patches], minSeverity, onlyFlow})
      return firedOn(sysctl, patches)
    },
    fixes() {
      return (c) => fixes[c.id]
    },
  }
  return {h, calls}
}

const reuse: Remedy = {sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, why: '  Reuse TIME_WAIT ports.  ', after: {}}

describe('judgeRemediesOnHost', () => {
  it('a remedy that creates nothing, or only something less severe, is offered as it is', () => {
    const f = finding('a', 'warning', [reuse], 'f1')
    // Before: a fires on f1. With the remedy: only an info finding appears.
    const {h} = hooks((s) => (s['net.ipv4.tcp_tw_reuse'] ? [{id: 'noise', flow: 'f2', severity: 'info'}] : [{id: 'a', flow: 'f1', severity: 'warning'}]))
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([reuse])
  })

  it('a remedy that would create a finding as severe elsewhere comes with that finding\'s first sysctl fix', () => {
    const f = finding('a', 'warning', [reuse], 'f1')
    const fix: Remedy = {sysctl: {'net.ipv4.tcp_max_tw_buckets': '9000'}, why: 'cap', after: {}}
    // With reuse alone, b fires on f2 (a warning); with the cap too, nothing does.
    const {h, calls} = hooks((s) => (s['net.ipv4.tcp_max_tw_buckets'] ? [] : s['net.ipv4.tcp_tw_reuse'] ? [{id: 'b', flow: 'f2', severity: 'warning'}] : [{id: 'a', flow: 'f1', severity: 'warning'}]), {b: fix})
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([
      {
        sysctl: {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_max_tw_buckets': '9000'},
        why: 'Reuse TIME_WAIT ports. Applied alone it would create a finding as severe elsewhere on this host, so it comes with: net.ipv4.tcp_max_tw_buckets=9000 (else b on flow f2).',
        after: {},
        combinedWith: ['b:f2'],
      },
    ])
    // The unchanged host first, then the remedy alone, then the combination; only findings as
    // severe as the remedy's own are asked for, and a sysctl change is never a one-flow change.
    expect(calls.map((c) => [c.sysctl, c.minSeverity, c.onlyFlow])).toEqual([
      [{}, undefined, undefined],
      [{'net.ipv4.tcp_tw_reuse': '1'}, 'warning', undefined],
      [{'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_max_tw_buckets': '9000'}, 'warning', undefined],
    ])
  })

  it('the same rule on another flow is a new finding; a host finding is named without a flow', () => {
    const f = finding('a', 'critical', [reuse], 'f1')
    const fix: Remedy = {sysctl: {'net.ipv4.tcp_fin_timeout': '30'}, why: 'fin', after: {}}
    // Before: a on f1. With reuse: a on f2 (the same rule, another flow) and host rule h.
    const {h} = hooks(
      (s) => (s['net.ipv4.tcp_fin_timeout'] ? [] : s['net.ipv4.tcp_tw_reuse'] ? [{id: 'a', flow: 'f2', severity: 'critical'}, {id: 'h', severity: 'critical'}] : [{id: 'a', flow: 'f1', severity: 'critical'}]),
      {a: fix, h: fix},
    )
    judgeRemediesOnHost([f], h)
    expect(f.remedies[0]?.combinedWith).toEqual(['a:f2', 'h'])
    expect(f.remedies[0]?.why).toBe('Reuse TIME_WAIT ports. Applied alone it would create a finding as severe elsewhere on this host, so it comes with: net.ipv4.tcp_fin_timeout=30 (else a on flow f2); net.ipv4.tcp_fin_timeout=30 (else h).')
  })

  it('a host finding present before is not created again; a flow finding of that id is', () => {
    const f = finding('a', 'warning', [reuse], 'f1')
    // h fires as a host finding before and after; nothing else appears.
    const {h} = hooks((s) => (s['net.ipv4.tcp_tw_reuse'] ? [{id: 'h', severity: 'warning'}] : [{id: 'a', flow: 'f1', severity: 'warning'}, {id: 'h', severity: 'warning'}]))
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([reuse])
  })

  it('not offered: the created finding has no sysctl fix, its fix sets one of the remedy\'s keys otherwise, or the combination brings the finding back', () => {
    // Before: a fires on f1; with reuse, b fires on f2 instead.
    const creates = (s: Record<string, string>): Fired[] => (s['net.ipv4.tcp_tw_reuse'] ? [{id: 'b', flow: 'f2', severity: 'warning'}] : [{id: 'a', flow: 'f1', severity: 'warning'}])
    const none = finding('a', 'warning', [reuse], 'f1')
    judgeRemediesOnHost([none], hooks(creates, {b: {action: 'keep-alive', why: 'x', after: {}}}).h)
    expect(none.remedies).toEqual([])
    const clash = finding('a', 'warning', [reuse], 'f1')
    judgeRemediesOnHost([clash], hooks(creates, {b: {sysctl: {'net.ipv4.tcp_tw_reuse': '2'}, why: 'x', after: {}}}).h)
    expect(clash.remedies).toEqual([])
    // The same value for the same key is no clash.
    const same = finding('a', 'warning', [reuse], 'f1')
    const fixSame: Remedy = {sysctl: {'net.ipv4.tcp_tw_reuse': '1', 'net.core.somaxconn': '4096'}, why: 'x', after: {}}
    judgeRemediesOnHost([same], hooks((s) => (s['net.core.somaxconn'] ? [] : creates(s)), {b: fixSame}).h)
    expect(same.remedies[0]?.combinedWith).toEqual(['b:f2'])
    // With the fix, b is gone but a (the remedy's own finding) fires again.
    const back = finding('a', 'warning', [reuse], 'f1')
    const fix: Remedy = {sysctl: {'net.ipv4.tcp_max_tw_buckets': '9000'}, why: 'cap', after: {}}
    judgeRemediesOnHost([back], hooks((s) => (s['net.ipv4.tcp_max_tw_buckets'] ? [{id: 'a', flow: 'f1', severity: 'warning'}] : creates(s)), {b: fix}).h)
    expect(back.remedies).toEqual([])
  })

  it('a chain of fixes is followed three rounds deep, not four', () => {
    // Each fix creates the next finding: c1 -> c2 -> c3 -> (nothing) settles in three rounds;
    // one more link (c4) is past the bound and the remedy is not offered.
    const chain = (links: number) => (s: Record<string, string>): Fired[] => {
      const n = Object.keys(s).length - 1
      return n >= 0 && n < links ? [{id: `c${n + 1}`, severity: 'warning'}] : []
    }
    const fixes = Object.fromEntries([1, 2, 3, 4].map((i) => [`c${i}`, {sysctl: {[`k.c${i}`]: '1'}, why: 'x', after: {}} as Remedy]))
    const three = finding('a', 'warning', [reuse], 'f1')
    judgeRemediesOnHost([three], hooks(chain(3), fixes).h)
    expect(three.remedies[0]?.combinedWith).toEqual(['c1', 'c2', 'c3'])
    const four = finding('a', 'warning', [reuse], 'f1')
    judgeRemediesOnHost([four], hooks(chain(4), fixes).h)
    expect(four.remedies).toEqual([])
  })

  it('a flow remedy is judged on that flow alone: a patch of the finding\'s flow, asked as a one-flow change', () => {
    const keepalive: Remedy = {flow: {keepalive: true}, why: 'keep-alive', after: {}}
    const f = finding('a', 'warning', [keepalive], 'f1')
    const {h, calls} = hooks(() => [])
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([keepalive])
    expect(calls[1]).toEqual({sysctl: {}, patches: [['f1', {keepalive: true}]], minSeverity: 'warning', onlyFlow: 'f1'})
    // A remedy that sets sysctls and changes the flow is not a one-flow change.
    const both: Remedy = {sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, flow: {keepalive: true}, why: 'both', after: {}}
    const c1 = hooks(() => [])
    judgeRemediesOnHost([finding('a', 'warning', [both], 'f1')], c1.h)
    expect(c1.calls[1]).toEqual({sysctl: {'net.ipv4.tcp_tw_reuse': '1'}, patches: [['f1', {keepalive: true}]], minSeverity: 'warning', onlyFlow: undefined})
    // A host finding's flow remedy has no flow to patch.
    const host = finding('h', 'warning', [keepalive])
    const c2 = hooks(() => [])
    judgeRemediesOnHost([host], c2.h)
    expect(c2.calls[1]).toEqual({sysctl: {}, patches: [], minSeverity: 'warning', onlyFlow: undefined})
  })
})

describe('judgeRemediesOnHost: what counts as the remedy\'s own finding coming back', () => {
  it('the same rule still firing on another flow, as it did before, is neither created nor the finding back', () => {
    // Before: a fires on f1 (this finding) and on f3. With reuse: a stays on f3 (it was there
    // before, so nothing new), and b appears on f2; with b's fix as well, b is gone. The
    // finding itself (a on f1) never comes back: the combination holds.
    const f = finding('a', 'warning', [reuse], 'f1')
    const fix: Remedy = {sysctl: {'net.ipv4.tcp_max_tw_buckets': '9000'}, why: 'cap', after: {}}
    const onF3: Fired = {id: 'a', flow: 'f3', severity: 'warning'}
    const {h} = hooks((s) => (s['net.ipv4.tcp_max_tw_buckets'] ? [onF3] : s['net.ipv4.tcp_tw_reuse'] ? [onF3, {id: 'b', flow: 'f2', severity: 'warning'}] : [{id: 'a', flow: 'f1', severity: 'warning'}, onF3]), {b: fix})
    judgeRemediesOnHost([f], h)
    expect(f.remedies.map((r) => r.combinedWith)).toEqual([['b:f2']])
  })

  it('the remedy alone is judged only on what it creates: its own finding in that state is the engine\'s re-check, not judgement\'s', () => {
    // The hooks say a still fires on f1 with the remedy alone, and nothing new fires. Judgement
    // asks only "does it create a finding as severe"; the check that the combination does not
    // bring the finding back applies once something was added (round 1 on), so it is offered.
    const f = finding('a', 'warning', [reuse], 'f1')
    const {h} = hooks(() => [{id: 'a', flow: 'f1', severity: 'warning'}])
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([reuse])
  })

  it('a created finding exactly as severe counts; a less severe one does not, a more severe one does', () => {
    // Created at the finding's own severity (warning) and above (critical) must be fixed;
    // below it (info) is left alone.
    for (const [sev, combined] of [['info', false], ['warning', true], ['critical', true]] as const) {
      const f = finding('a', 'warning', [reuse], 'f1')
      const fix: Remedy = {sysctl: {'k.fix': '1'}, why: 'x', after: {}}
      const {h} = hooks((s) => (s['k.fix'] ? [] : s['net.ipv4.tcp_tw_reuse'] ? [{id: 'b', flow: 'f2', severity: sev}] : [{id: 'a', flow: 'f1', severity: 'warning'}]), {b: fix})
      judgeRemediesOnHost([f], h)
      expect(f.remedies[0]?.combinedWith !== undefined).toBe(combined)
    }
  })

  it('many findings on one state: what it creates is worked out per severity (32 or more fired)', () => {
    // 40 flows fire x (info) before and after; the remedy adds b on f2 (warning) in a state with
    // 41 fired entries. A warning finding must get the fix; an info finding as well (b is as
    // severe as info and more); a critical finding keeps its remedy alone (b is less severe).
    const many: Fired[] = Array.from({length: 40}, (_, i) => ({id: 'x', flow: `n${i}`, severity: 'info'}))
    const fix: Remedy = {sysctl: {'k.fix': '1'}, why: 'x', after: {}}
    const withReuse = [...many, {id: 'b', flow: 'f2', severity: 'warning' as Severity}]
    const before = [...many, {id: 'a', flow: 'f1', severity: 'critical' as Severity}, {id: 'w', flow: 'f4', severity: 'warning' as Severity}, {id: 'i', flow: 'f5', severity: 'info' as Severity}]
    const {h} = hooks((s) => (s['k.fix'] ? many : s['net.ipv4.tcp_tw_reuse'] ? withReuse : before), {b: fix})
    const crit = finding('a', 'critical', [reuse], 'f1')
    const warn = finding('w', 'warning', [reuse], 'f4')
    const info = finding('i', 'info', [reuse], 'f5')
    judgeRemediesOnHost([info, crit, warn], h)
    expect(crit.remedies).toEqual([reuse])
    expect(warn.remedies[0]?.combinedWith).toEqual(['b:f2'])
    expect(info.remedies[0]?.combinedWith).toEqual(['b:f2'])
  })
})

describe('judgeRemediesOnHost: the combination', () => {
  it('another rule still firing on the finding\'s flow, as before, does not undo it', () => {
    // x fires on f1 before and after; reuse creates b on f2, whose fix clears it. Only a on f1
    // (the finding itself) coming back would undo the remedy.
    const f = finding('a', 'warning', [reuse], 'f1')
    const x: Fired = {id: 'x', flow: 'f1', severity: 'warning'}
    const fix: Remedy = {sysctl: {'k.fix': '1'}, why: 'x', after: {}}
    const {h} = hooks((s) => (s['k.fix'] ? [x] : s['net.ipv4.tcp_tw_reuse'] ? [x, {id: 'b', flow: 'f2', severity: 'warning'}] : [{id: 'a', flow: 'f1', severity: 'warning'}, x]), {b: fix})
    judgeRemediesOnHost([f], h)
    expect(f.remedies[0]?.combinedWith).toEqual(['b:f2'])
  })

  it('a fix that sets one of the remedy\'s keys to another value is refused, even where that value would hold', () => {
    // With tcp_tw_reuse 2 nothing fires at all: taking the fix's value would "hold", but it is
    // not the remedy any more.
    const f = finding('a', 'warning', [reuse], 'f1')
    const {h} = hooks((s) => (s['net.ipv4.tcp_tw_reuse'] === '1' ? [{id: 'b', flow: 'f2', severity: 'warning'}] : s['net.ipv4.tcp_tw_reuse'] === '2' ? [] : [{id: 'a', flow: 'f1', severity: 'warning'}]), {b: {sysctl: {'net.ipv4.tcp_tw_reuse': '2'}, why: 'x', after: {}}})
    judgeRemediesOnHost([f], h)
    expect(f.remedies).toEqual([])
  })
})
