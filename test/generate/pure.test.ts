import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {bootFiles, bootSettings, parseSysctlConf, searchPathName} from '../../src/generate/boot.js'
import {atCarriedLine, carryable, parseOwnSysctlD, planIsCurrent, withCarriedOver, writableKeys} from '../../src/generate/carry.js'
import {displayPath, entryComment, hasTwadvisorHeader, noteLines, packageVersion, renderContext, yamlQuote} from '../../src/generate/header.js'
import {planFromReport, type Plan} from '../../src/generate/plan.js'
import {generate, liveKeyExists, renderPlan, type GenerateRequest, type GenerateResult} from '../../src/generate/run.js'
import {summaryLines} from '../../src/generate/summary.js'
import {TARGETS, type TargetName} from '../../src/generate/targets/index.js'
import {podLevelBlocker} from '../../src/generate/targets/k8s.js'
import {verifyRendered} from '../../src/generate/verify.js'
import {finding, fixtureFacts, incidentReport, refusal, remedy, report, ROOT, scratchDir} from './helpers.js'
import {writeRule} from '../rules/rule-file.js'

// The parts of `generate` that need no root: reading back rendered files, the systemd-sysctl
// search path in a scratch root, the settings carried from a file twadvisor wrote, the header,
// and the summary lines. The root suites (run, targets, write) load the files with the real tools.

const TOPOLOGY = `${ROOT}/examples/incident/topology.yaml`
const plan = (): Plan => planFromReport(incidentReport())
const render = (t: TargetName, p: Plan = plan()) => TARGETS[t].render(p, renderContext(p, TOPOLOGY, '9.9.9'))
const errorOf = (fn: () => unknown): TwError => {
  try {
    fn()
  } catch (e) {
    if (e instanceof TwError) return e
    throw e
  }
  throw new Error('no TwError')
}
const code = (fn: () => unknown): string => {
  try {
    fn()
  } catch (e) {
    return e instanceof TwError ? `${e.code}: ${e.message}` : String(e)
  }
  return 'no error'
}

describe('verifyRendered reads each target back as its consumer would', () => {
  it('accepts what each renderer writes for the plan', () => {
    for (const t of Object.keys(TARGETS) as TargetName[]) expect(code(() => verifyRendered(t, render(t), plan()))).toBe('no error')
  })

  it('sysctl.d: a key the plan does not hold, another value, a missing key, a key twice, a line without "="', () => {
    const text = render('sysctl.d')
    expect(code(() => verifyRendered('sysctl.d', text + 'net.ipv4.tcp_tw_reuse = 1\n', plan()))).toContain('a key the plan does not hold: net.ipv4.tcp_tw_reuse')
    expect(code(() => verifyRendered('sysctl.d', text.replace('= 5000', '= 5001'), plan()))).toContain('net.ipv4.tcp_max_tw_buckets = 5001 (the plan says 5000)')
    expect(code(() => verifyRendered('sysctl.d', text.replace('net.ipv4.tcp_max_tw_buckets = 5000', ''), plan()))).toContain('no net.ipv4.tcp_max_tw_buckets, which the plan holds')
    expect(code(() => verifyRendered('sysctl.d', text + '-net.ipv4.tcp_max_tw_buckets = 5000\n', plan()))).toContain('key net.ipv4.tcp_max_tw_buckets twice')
    expect(code(() => verifyRendered('sysctl.d', text + 'oops\n', plan()))).toContain('not "key = value": oops')
    expect(code(() => verifyRendered('sysctl.d', text + '=5\n', plan()))).toContain('not "key = value": =5')
    // ';' starts a comment too, and any line break of any reader splits lines (\v here).
    expect(code(() => verifyRendered('sysctl.d', text + '; net.ipv4.tcp_tw_reuse = 1\n', plan()))).toBe('no error')
    expect(code(() => verifyRendered('sysctl.d', text + '# x\vnet.ipv4.tcp_tw_reuse = 1\n', plan()))).toContain('a key the plan does not hold: net.ipv4.tcp_tw_reuse')
    // Values compare with their blanks collapsed, as sysctl writes them.
    expect(code(() => verifyRendered('sysctl.d', text.replace('10000 65535', '10000    65535'), plan()))).toBe('no error')
  })

  it('tuned: only [main] summary and [sysctl] keys', () => {
    const text = render('tuned')
    expect(code(() => verifyRendered('tuned', text + '[vm]\n', plan()))).toContain('an unexpected section [vm]')
    expect(code(() => verifyRendered('tuned', text.replace('[main]', '[main]\nfoo=1'), plan()))).toContain('a setting outside [sysctl]: foo=1')
    expect(code(() => verifyRendered('tuned', text + 'bare\n', plan()))).toContain('not "key=value": bare')
    expect(code(() => verifyRendered('tuned', text + 'net.ipv4.tcp_max_tw_buckets=1\n', plan()))).toContain('key net.ipv4.tcp_max_tw_buckets twice')
    // A summary outside [main] is a setting where none belongs.
    expect(code(() => verifyRendered('tuned', text + 'summary=x\n', plan()))).toContain('a key the plan does not hold: summary')
  })

  it('an indented comment is a comment; a refusal points at --target and says it is a bug or a hostile input', () => {
    expect(code(() => verifyRendered('sysctl.d', render('sysctl.d') + '   # net.ipv4.tcp_tw_reuse = 1\n', plan()))).toBe('no error')
    let error: unknown
    try {
      verifyRendered('sysctl.d', render('sysctl.d') + 'oops\n', plan())
    } catch (e) {
      error = e
    }
    expect([(error as TwError).position, (error as TwError).hint]).toEqual([{field: '--target'}, 'this is a bug in twadvisor or a hostile input; please report it with the input that caused it'])
  })

  it('ansible and k8s: a null, a scalar or a lone wrong key at the top, and a YAML warning, are refused as such', () => {
    expect(code(() => verifyRendered('ansible', '~\n', plan()))).toContain('a twadvisor_sysctls parent that is not a mapping')
    expect(code(() => verifyRendered('ansible', 'x\n', plan()))).toContain('a twadvisor_sysctls parent that is not a mapping')
    expect(code(() => verifyRendered('k8s', 'securityContext: 5\n', plan()))).toContain('a sysctls parent that is not a mapping')
    expect(code(() => verifyRendered('ansible', 'other: []\n', plan()))).toContain('keys other where only twadvisor_sysctls belongs')
    // An unknown tag parses with a warning only: still not clean.
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: !other []\n', plan()))).toContain('YAML that does not parse cleanly')
  })

  it('ansible and k8s: exactly the shape the renderer writes', () => {
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: []\nother: 1\n', plan()))).toContain('keys twadvisor_sysctls, other where only twadvisor_sysctls belongs')
    expect(code(() => verifyRendered('ansible', '- 1\n', plan()))).toContain('a twadvisor_sysctls parent that is not a mapping')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: {}\n', plan()))).toContain('a sysctl list that is not a list')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: [1]\n', plan()))).toContain('a list item that is not a mapping')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: [null]\n', plan()))).toContain('a list item that is not a mapping')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: [{name: a, value: 1}]\n', plan()))).toContain('without a string name and value')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: [{name: 1, value: "1"}]\n', plan()))).toContain('without a string name and value')
    expect(code(() => verifyRendered('ansible', 'a: 1\na: 2\n', plan()))).toContain('YAML that does not parse cleanly')
    expect(code(() => verifyRendered('k8s', 'securityContext: []\n', plan()))).toContain('a sysctls parent that is not a mapping')
    // k8s carries only the pod-level key (tcp_max_tw_buckets is not in the kubelet's safe set).
    const k8sOnly = 'securityContext:\n  sysctls:\n    - name: net.ipv4.ip_local_port_range\n      value: "10000 65535"\n'
    expect(code(() => verifyRendered('k8s', k8sOnly, plan()))).toBe('no error')
    expect(code(() => verifyRendered('ansible', 'twadvisor_sysctls: []\n', plan()))).toContain('no net.ipv4.ip_local_port_range, which the plan holds')
  })
})

describe('boot: what systemd-sysctl loads, in a scratch root', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => ({dir, cleanup} = scratchDir('twboot-')))
  afterEach(() => cleanup())

  it('parses key = value lines, skipping comments, blank lines and lines without a key', () => {
    expect(parseSysctlConf('# c\n; c\n\n=1\nnot a setting\n-net.ipv4.tcp_fin_timeout =  30\r\nnet/ipv4/tcp_tw_reuse=1\n', 'f')).toEqual([
      {file: 'f', line: 6, key: 'net.ipv4.tcp_fin_timeout', value: '30'},
      {file: 'f', line: 7, key: 'net.ipv4.tcp_tw_reuse', value: '1'},
    ])
  })

  it('masks a name in a later directory, orders by file name, reads /etc/sysctl.conf once and last; the last setter wins', async () => {
    for (const d of ['etc/sysctl.d', 'run/sysctl.d', 'usr/local/lib/sysctl.d', 'usr/lib/sysctl.d']) mkdirSync(join(dir, d), {recursive: true})
    writeFileSync(join(dir, 'usr/lib/sysctl.d/10-a.conf'), 'net.ipv4.tcp_fin_timeout = 10\n')
    writeFileSync(join(dir, 'etc/sysctl.d/10-a.conf'), 'net.ipv4.tcp_fin_timeout = 11\n')
    writeFileSync(join(dir, 'usr/lib/sysctl.d/05-z.conf'), 'net.ipv4.tcp_fin_timeout = 5\n')
    writeFileSync(join(dir, 'run/sysctl.d/20-b.conf'), '-net.ipv4.tcp_fin_timeout=20\n')
    writeFileSync(join(dir, 'usr/local/lib/sysctl.d/30-c.conf'), 'net.ipv4.conf.*.rp_filter = 2\nnet.ipv4.conf.eth?.arp_filter = 1\n')
    writeFileSync(join(dir, 'usr/lib/sysctl.d/README'), 'net.ipv4.tcp_fin_timeout = 99\n')
    writeFileSync(join(dir, 'etc/sysctl.conf'), 'net.ipv4.tcp_fin_timeout = 40\n')
    symlinkSync('../sysctl.conf', join(dir, 'etc/sysctl.d/99-sysctl.conf'))
    expect(await bootFiles(dir)).toEqual(['/usr/lib/sysctl.d/05-z.conf', '/etc/sysctl.d/10-a.conf', '/run/sysctl.d/20-b.conf', '/usr/local/lib/sysctl.d/30-c.conf', '/etc/sysctl.conf'])
    const [fin, rp, arp, none] = await bootSettings(['net.ipv4.tcp_fin_timeout', 'net.ipv4.conf.eth0.rp_filter', 'net.ipv4.conf.eth0.arp_filter', 'net.ipv4.conf.eth10.arp_filter'], {root: dir})
    expect(fin!.setters.map((s) => `${s.file}:${s.line}=${s.value}`)).toEqual(['/usr/lib/sysctl.d/05-z.conf:1=5', '/etc/sysctl.d/10-a.conf:1=11', '/run/sysctl.d/20-b.conf:1=20', '/etc/sysctl.conf:1=40'])
    expect(fin!.winner).toEqual({file: '/etc/sysctl.conf', line: 1, key: 'net.ipv4.tcp_fin_timeout', value: '40'})
    expect(rp!.winner?.value).toBe('2')
    expect(arp!.winner?.value).toBe('1')
    // '?' is one character: eth10 is not eth?.
    expect(none!.winner).toBeNull()
    expect(none!.setters).toEqual([])
  })

  it('a comment or blank line may be indented; only a leading # or ; makes a comment (systemd-sysctl reads no trailing comments)', () => {
    expect(parseSysctlConf('   # net.ipv4.tcp_fin_timeout = 1\n\t; net.ipv4.tcp_fin_timeout = 2\n   \n  net.ipv4.tcp_fin_timeout = 3#\nnet.ipv4.tcp_tw_reuse = 1;\n', 'f')).toEqual([
      {file: 'f', line: 4, key: 'net.ipv4.tcp_fin_timeout', value: '3#'},
      {file: 'f', line: 5, key: 'net.ipv4.tcp_tw_reuse', value: '1;'},
    ])
  })

  it('without /etc/sysctl.conf every *.conf of the search path is listed, a dangling link too (it loads nothing)', async () => {
    mkdirSync(join(dir, 'etc/sysctl.d'), {recursive: true})
    writeFileSync(join(dir, 'etc/sysctl.d/10-a.conf'), 'net.ipv4.tcp_fin_timeout = 11\n')
    symlinkSync('../nowhere.conf', join(dir, 'etc/sysctl.d/20-gone.conf'))
    expect(await bootFiles(dir)).toEqual(['/etc/sysctl.d/10-a.conf', '/etc/sysctl.d/20-gone.conf', '/etc/sysctl.conf'])
    const [fin] = await bootSettings(['net.ipv4.tcp_fin_timeout'], {root: dir})
    expect(fin!.setters.map((x) => `${x.file}:${x.line}=${x.value}`)).toEqual(['/etc/sysctl.d/10-a.conf:1=11'])
  })

  it('an empty root has only /etc/sysctl.conf, which is absent', async () => {
    expect(await bootFiles(dir)).toEqual(['/etc/sysctl.conf'])
    expect(await bootSettings(['net.ipv4.tcp_fin_timeout'], {root: dir})).toEqual([{key: 'net.ipv4.tcp_fin_timeout', setters: [], winner: null}])
  })

  it('names a file by its search-path name only when systemd-sysctl loads it', () => {
    expect(searchPathName('/etc/sysctl.d/60-twadvisor.conf')).toBe('/etc/sysctl.d/60-twadvisor.conf')
    expect(searchPathName('/etc/sysctl.conf')).toBe('/etc/sysctl.conf')
    expect(searchPathName('/etc/sysctl.d/60-twadvisor.txt')).toBeNull()
    expect(searchPathName('/etc/sysctl.d/sub/60.conf')).toBeNull()
    expect(searchPathName('/tmp/60-twadvisor.conf')).toBeNull()
    expect(searchPathName('/srv/r/usr/lib/sysctl.d/x.conf', '/srv/r')).toBe('/usr/lib/sysctl.d/x.conf')
    expect(searchPathName('/srv/r/usr/lib/sysctl.d/x.conf', '/srv/r/')).toBe('/usr/lib/sysctl.d/x.conf')
    expect(searchPathName('/srv/rx/etc/sysctl.conf', '/srv/r')).toBeNull()
  })
})

describe('carry: the settings of a file twadvisor wrote', () => {
  const rules = [
    {id: 'client-port-exhaustion', remedies: [{sysctl: {'net.ipv4.ip_local_port_range': '1'}}, {}]},
    {id: 'server-tw-collision-shared', remedies: [{sysctl: {'net/ipv4/tcp_max_tw_buckets': '1'}}]},
  ] as never[]

  it('reads each key with the rule ids and reason of the comment right above it', () => {
    const own = parseOwnSysctlD(render('sysctl.d') + '# not a rule comment!\nkernel.core_pattern = core\nnet.ipv4.tcp_fin_timeout=30\n')
    expect(own).toEqual([
      {key: 'net.ipv4.ip_local_port_range', value: '10000 65535', ruleIds: ['client-port-exhaustion'], reasons: ['More source ports toward the cache.'], flows: [], line: 7},
      {key: 'net.ipv4.tcp_max_tw_buckets', value: '5000', ruleIds: ['server-tw-collision-shared'], reasons: ['With at most 5000 entries in TIME_WAIT, a reused tuple finds one in at most 1 % of new connections.'], flows: [], line: 10},
      {key: 'kernel.core_pattern', value: 'core', ruleIds: [], reasons: [], flows: [], line: 12},
      // The comment belongs to the line right below it only.
      {key: 'net.ipv4.tcp_fin_timeout', value: '30', ruleIds: [], reasons: [], flows: [], line: 13},
    ])
    expect(parseOwnSysctlD('# a, b:\nk = 1\n')[0]).toMatchObject({ruleIds: ['a', 'b'], reasons: []})
  })

  it('carries only keys a named, known rule sets; says why it drops the others', () => {
    const own = parseOwnSysctlD('# client-port-exhaustion: r\nnet.ipv4.ip_local_port_range = 1 2\nk = 1\n# nope: r\nnet.ipv4.tcp_fin_timeout = 3\n# client-port-exhaustion: r\nnet.ipv4.tcp_max_tw_buckets = 4\n')
    const {carry, dropped} = carryable(own, rules)
    expect(carry.map((e) => e.key)).toEqual(['net.ipv4.ip_local_port_range'])
    expect(dropped).toEqual([
      {key: 'k', line: 3, why: 'no twadvisor rule comment above it (added by hand?)'},
      {key: 'net.ipv4.tcp_fin_timeout', line: 5, why: 'its comment names no rule twadvisor has (nope)'},
      {key: 'net.ipv4.tcp_max_tw_buckets', line: 7, why: 'no remedy of client-port-exhaustion sets this key'},
    ])
    expect(writableKeys(rules)).toEqual(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_max_tw_buckets'])
  })

  it('a file is current when it holds every planned value and drops nothing; carried keys join the plan in key order', () => {
    const p = plan()
    const own = parseOwnSysctlD(render('sysctl.d'))
    expect(planIsCurrent(p, own, [])).toBe(true)
    expect(planIsCurrent(p, own, [{key: 'k', line: 1, why: 'x'}])).toBe(false)
    expect(planIsCurrent(p, own.slice(1), [])).toBe(false)
    const extra = {key: 'net.ipv4.tcp_fin_timeout', value: '30', ruleIds: ['r'], reasons: [], flows: [], line: 3}
    const stale = {...own[0]!, value: '1 2'}
    const merged = withCarriedOver({...p, entries: p.entries.slice(1)}, [stale, extra])
    expect(merged.carried.map((e) => e.key)).toEqual(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_fin_timeout'])
    expect(merged.plan.entries.map((e) => `${e.key}=${e.value}`)).toEqual(['net.ipv4.ip_local_port_range=1 2', 'net.ipv4.tcp_fin_timeout=30', 'net.ipv4.tcp_max_tw_buckets=5000'])
    expect(merged.plan.entries.every((e) => !('line' in e))).toBe(true)
    // A fresh value wins over a carried one.
    expect(withCarriedOver(p, [stale]).plan.entries).toEqual(p.entries)
  })

  it('reads indented lines, skips a line with no key before "=", and drops empty ids from a comment', () => {
    const own = parseOwnSysctlD('  # client-port-exhaustion,, server-tw-collision-shared: r\n  net.ipv4.ip_local_port_range = 1 2\n=5\n')
    expect(own).toEqual([
      {key: 'net.ipv4.ip_local_port_range', value: '1 2', ruleIds: ['client-port-exhaustion', 'server-tw-collision-shared'], reasons: ['r'], flows: [], line: 2},
    ])
  })

  it('a key is carried when any one of the rules its comment names sets it; writable keys are each listed once, sorted', () => {
    const own = parseOwnSysctlD('# server-tw-collision-shared, client-port-exhaustion: r\nnet.ipv4.ip_local_port_range = 1 2\n')
    expect(carryable(own, rules)).toEqual({carry: own, dropped: []})
    const more = [
      {id: 'b', remedies: [{sysctl: {'net.ipv4.tcp_tw_reuse': '1', 'net/core/somaxconn': '1'}}]},
      {id: 'a', remedies: [{sysctl: {'net.core.somaxconn': '2'}}, {sysctl: {'net.ipv4.tcp_fin_timeout': '3'}}]},
    ] as never[]
    expect(writableKeys(more)).toEqual(['net.core.somaxconn', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_tw_reuse'])
  })

  it('moves an error about a carried key to its line in the existing file', () => {
    const carried = [{key: 'net.ipv4.tcp_fin_timeout', value: '30', ruleIds: ['r'], reasons: [], flows: [], line: 14}]
    const e = atCarriedLine(new TwError('generate.value', 'bad', {position: {field: 'net.ipv4.tcp_fin_timeout'}}), '/etc/x.conf', carried) as TwError
    expect(e.message).toBe('carried over from the existing file: bad')
    expect(e.code).toBe('generate.value')
    expect(e.position).toEqual({file: '/etc/x.conf', line: 14, field: 'net.ipv4.tcp_fin_timeout'})
    const other = new TwError('generate.value', 'bad', {position: {field: 'net.ipv4.tcp_tw_reuse'}})
    expect(atCarriedLine(other, '/etc/x.conf', carried)).toBe(other)
    const plain = new Error('x')
    expect(atCarriedLine(plain, '/etc/x.conf', carried)).toBe(plain)
  })
})

describe('header', () => {
  it('knows its own files by the mark in the first comment block', () => {
    expect(hasTwadvisorHeader(render('tuned'))).toBe(true)
    expect(hasTwadvisorHeader('\n\n## Generated by twadvisor 1\n')).toBe(true)
    expect(hasTwadvisorHeader('# ops\n# Generated by twadvisor 1\n')).toBe(true)
    expect(hasTwadvisorHeader('k = 1\n# Generated by twadvisor 1\n')).toBe(false)
    expect(hasTwadvisorHeader('# ops\n'.repeat(10) + '# Generated by twadvisor 1\n')).toBe(false)
    expect(hasTwadvisorHeader('')).toBe(false)
    // Indented and blank-with-spaces lines are read trimmed.
    expect(hasTwadvisorHeader('   \n  # Generated by twadvisor 1\n')).toBe(true)
  })

  it('names the package\'s own version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}).version
    expect(packageVersion()).toBe(version)
    expect(packageVersion()).toBe(version)
    expect(renderContext(plan(), TOPOLOGY).version).toBe(version)
  })

  it('shows bundled files relative to the package, others as given', () => {
    expect(displayPath(TOPOLOGY)).toBe('examples/incident/topology.yaml')
    expect(displayPath('rel/t.yaml')).toBe('rel/t.yaml')
    // A relative path is shown as given, not normalized.
    expect(displayPath('rel/./t.yaml')).toBe('rel/./t.yaml')
    expect(displayPath('/etc/t.yaml')).toBe('/etc/t.yaml')
    expect(displayPath(ROOT)).toBe(ROOT)
  })

  it('comments, notes and YAML quoting', () => {
    expect(entryComment({ruleIds: ['a', 'b'], reasons: ['x', 'y']})).toBe('a, b: x; y')
    expect(entryComment({ruleIds: ['a'], reasons: []})).toBe('a')
    expect(noteLines({...plan(), betterRemedy: [], notSysctl: []})).toEqual([])
    expect(noteLines({...plan(), betterRemedy: ['a', 'b'], notSysctl: ['c']})).toEqual([
      'Ranked above the sysctl here, a remedy that is not a sysctl exists for: a, b (see twadvisor check).',
      'Not sysctls on this host (see twadvisor check): c.',
    ])
    expect(yamlQuote('a\u0085b\u2028c"')).toBe('"a\\u0085b\\u2028c\\""')
    expect(render('sysctl.d', {...plan(), kernel: null})).toContain('sysctls test/fixtures/sysctl-6.18.44.txt; host php-01.')
  })
})

describe('summary lines', () => {
  const base = (over: Partial<GenerateResult>): GenerateResult => ({plan: plan(), target: 'sysctl.d', text: '', warnings: [], output: '/etc/sysctl.d/60-twadvisor.conf', exitCode: 0, ...over})
  const O = '/etc/sysctl.d/60-twadvisor.conf'

  it('written, updated, current, would change', () => {
    expect(summaryLines(base({write: {changed: true, created: true} as never}))).toEqual([`wrote ${O} (2 keys, target sysctl.d)`])
    expect(summaryLines(base({write: {changed: true, created: false, backup: `${O}.bak`} as never}))).toEqual([`updated ${O} (2 keys, target sysctl.d)`, `kept the previous file as ${O}.bak`])
    expect(summaryLines(base({plan: {...plan(), entries: plan().entries.slice(1)}, write: {changed: false} as never}))).toEqual([`${O} is current (1 key); nothing written`])
    expect(summaryLines(base({plan: {...plan(), entries: plan().entries.slice(1)}, write: {changed: true, created: true} as never}))).toEqual([`wrote ${O} (1 key, target sysctl.d)`])
    expect(summaryLines(base({write: {changed: false} as never}))).toEqual([`${O} is current (2 keys); nothing written`])
    expect(summaryLines(base({changed: true}))).toEqual([`${O} would change`])
    expect(summaryLines(base({changed: false}))).toEqual([`${O} is current`])
    expect(summaryLines(base({changed: true, diff: '-a\n+b\n'}))).toEqual([])
    expect(summaryLines(base({}))).toEqual([])
  })

  it('carried, dropped, foreign, applied', () => {
    expect(summaryLines(base({changed: true, foreign: true, carried: ['k1', 'k2'], dropped: [{key: 'k', line: 3, why: 'w'}]}))).toEqual([
      `${O} would change`,
      'kept from the existing file (twadvisor wrote them; their findings are gone now): k1, k2',
      `not kept from ${O}:3: k: w`,
      `${O} was not written by twadvisor: writing it needs --force (a backup is kept)`,
    ])
    expect(summaryLines(base({changed: true, foreign: true, carried: [], write: {changed: true, created: false} as never}))).toEqual([`updated ${O} (2 keys, target sysctl.d)`])
    const apply = {file: O, netns: 'ns1', keys: [{key: 'a', ok: true, now: '1', wanted: '1'}, {key: 'b', ok: false, wanted: '2', error: 'EPERM'}]}
    expect(summaryLines(base({apply: apply as never}))).toEqual([
      `applied ${O} in network namespace ns1 with sysctl -p:`,
      '  ok      a = 1',
      '  FAILED  b = 2: EPERM (now absent)',
    ])
    expect(summaryLines(base({apply: {...apply, netns: undefined, keys: [{key: 'b', ok: false, wanted: '2', error: 'E', now: '3'}]} as never}))).toEqual([`applied ${O} with sysctl -p:`, '  FAILED  b = 2: E (now 3)'])
  })

  it('at boot: who wins each key', () => {
    const s = (file: string, line: number, value: string) => ({file, line, key: 'k', value})
    const ours = s(O, 2, '1')
    const boot = [
      {key: 'k', setters: [s('/usr/lib/sysctl.d/50-default.conf', 4, '0'), ours], winner: ours},
      {key: 'j', setters: [ours], winner: ours},
      {key: 'm', setters: [ours, s('/etc/sysctl.conf', 7, '9')], winner: s('/etc/sysctl.conf', 7, '9')},
      {key: 'n', setters: [], winner: null},
    ]
    expect(summaryLines(base({boot: boot as never, bootName: O, apply: {file: O, netns: 'ns1', keys: []} as never})).slice(1)).toEqual([
      'at boot (systemd-sysctl order; the last file that sets a key wins):',
      `  k: ${O} wins; also set by /usr/lib/sysctl.d/50-default.conf:4 (0)`,
      `  j: ${O} wins`,
      `  m: /etc/sysctl.conf:7 wins with 9, overriding twadvisor's value; also set by /etc/sysctl.conf:7 (9)`,
      '  n: no file sets it; the kernel default applies',
      '  (systemd-sysctl sets the host namespace only; a named namespace keeps what its creator sets)',
    ])
    expect(summaryLines(base({boot: [], bootName: null}))).toEqual([
      `at boot: ${O} is not in the systemd-sysctl search path, so nothing loads it at boot`,
      'at boot (systemd-sysctl order; the last file that sets a key wins):',
    ])
  })
})

describe('generate (library) without apply: stdout, write, check, diff, carry', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => ({dir, cleanup} = scratchDir('twgenlib-')))
  afterEach(() => cleanup())
  const req = (extra: Partial<GenerateRequest> = {}): GenerateRequest => ({report: incidentReport(), facts: fixtureFacts(), topologyFile: TOPOLOGY, target: 'sysctl.d', ...extra})
  const rules = [
    {id: 'client-port-exhaustion', remedies: [{sysctl: {'net.ipv4.ip_local_port_range': '1'}}]},
    {id: 'server-tw-collision-shared', remedies: [{sysctl: {'net.ipv4.tcp_max_tw_buckets': '1'}}]},
    {id: 'fin', remedies: [{sysctl: {'net.ipv4.tcp_fin_timeout': '1'}}]},
  ] as never[]

  it('prints by default; --diff, --check and --apply need an output; an empty output names no file', async () => {
    const r = await generate(req())
    expect(r.exitCode).toBe(0)
    expect(r.output).toBeUndefined()
    expect(r.text).toContain('net.ipv4.tcp_max_tw_buckets = 5000\n')
    for (const flag of ['diff', 'check'] as const) {
      const e = await refusal(generate(req({[flag]: true})))
      expect([e.code, e.position.field]).toEqual(['generate.output', `--${flag}`])
    }
    expect((await refusal(generate(req({output: '  '})))).code).toBe('generate.output')
    expect((await refusal(generate(req({apply: true, target: 'tuned'})))).code).toBe('generate.apply-target')
    expect((await refusal(generate(req({apply: true, check: true})))).code).toBe('generate.apply-mode')
    expect((await refusal(generate(req({apply: true, diff: true})))).code).toBe('generate.apply-mode')
  })

  it('writes, then is current; --check exits 2 only when the file would change; --diff shows the change', async () => {
    const output = join(dir, '60-twadvisor.conf')
    const check0 = await generate(req({output, check: true}))
    expect([check0.changed, check0.exitCode, check0.foreign, check0.diff]).toEqual([true, 2, false, undefined])
    const diff0 = await generate(req({output, diff: true}))
    expect([diff0.exitCode, diff0.diff!.split('\n')[0]]).toEqual([0, '--- /dev/null'])
    const w = await generate(req({output}))
    expect([w.changed, w.write?.created, w.exitCode]).toEqual([true, true, 0])
    expect(readFileSync(output, 'utf8')).toBe(w.text)
    const again = await generate(req({output, check: true}))
    expect([again.changed, again.exitCode, again.carried]).toEqual([false, 0, undefined])
    expect((await generate(req({output, diff: true}))).diff).toBe('')
    expect((await generate(req({output}))).write).toEqual({path: output, changed: false, created: false})
    // Against a file that exists, both sides of the diff carry its path (only a new file is /dev/null).
    writeFileSync(output, w.text.replace('net.ipv4.tcp_max_tw_buckets = 5000', 'net.ipv4.tcp_max_tw_buckets = 6000'))
    const d1 = await generate(req({output, diff: true}))
    expect(d1.diff!.split('\n').slice(0, 2)).toEqual([`--- ${output}`, `+++ ${output}`])
    expect(d1.diff).toContain('-net.ipv4.tcp_max_tw_buckets = 6000\n+net.ipv4.tcp_max_tw_buckets = 5000')
  })

  it('keeps the settings it wrote when their findings are gone, drops hand-added ones', async () => {
    const output = join(dir, '60-twadvisor.conf')
    await generate(req({output}))
    writeFileSync(output, readFileSync(output, 'utf8') + '# fin: shorter FIN_WAIT2\nnet.ipv4.tcp_fin_timeout = 30\nkernel.core_pattern = core\n')
    // Only one finding left: the other keys stay, the hand-added one goes.
    const only = report([finding('client-port-exhaustion', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '10000 65535'}, why: 'More source ports toward the cache.'})])])
    const r = await generate(req({output, report: only, rules, check: true}))
    // In the existing file's order.
    expect(r.carried).toEqual(['net.ipv4.tcp_max_tw_buckets', 'net.ipv4.tcp_fin_timeout'])
    expect(r.dropped).toEqual([{key: 'kernel.core_pattern', line: 13, why: 'no twadvisor rule comment above it (added by hand?)'}])
    expect([r.changed, r.exitCode]).toEqual([true, 2])
    expect(r.plan.entries.map((e) => e.key)).toEqual(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_max_tw_buckets'])
    expect(r.text).toContain('# fin: shorter FIN_WAIT2\nnet.ipv4.tcp_fin_timeout = 30\n')
    expect(r.text).not.toContain('core_pattern')
    // A foreign file is neither carried from nor written without --force.
    writeFileSync(output, 'net.ipv4.tcp_fin_timeout = 30\n')
    const f = await generate(req({output, rules, check: true}))
    expect([f.foreign, f.carried, f.dropped, f.exitCode]).toEqual([true, undefined, undefined, 2])
    expect(summaryLines(f)).toContain(`${output} was not written by twadvisor: writing it needs --force (a backup is kept)`)
  })

  it('a file with the same settings under an older header is current: kept as it is, not rewritten', async () => {
    const output = join(dir, '60-twadvisor.conf')
    const old = render('sysctl.d').replace('twadvisor 9.9.9', 'twadvisor 0.0.1')
    writeFileSync(output, old)
    const r = await generate(req({output, check: true}))
    expect([r.changed, r.exitCode, r.text === old]).toEqual([false, 0, true])
    // --check alone carries no diff at all.
    expect('diff' in r).toBe(false)
  })

  it('--force replaces a foreign file and keeps it as a backup; an empty --output says how to name one', async () => {
    const output = join(dir, '60-twadvisor.conf')
    writeFileSync(output, 'net.ipv4.tcp_fin_timeout = 30\n')
    const w = await generate(req({output, force: true}))
    expect([w.foreign, w.write?.changed, w.write?.backup]).toEqual([true, true, `${output}.twadvisor-bak`])
    const e = await refusal(generate(req({output: '  '})))
    expect([e.position, e.hint]).toEqual([{field: '--output'}, 'e.g. --output /etc/sysctl.d/60-twadvisor.conf'])
  })

  it('a live read asks /proc/sys about keys it did not read; a dump is complete and is not asked', () => {
    const {['net.ipv4.tcp_max_tw_buckets']: _buckets, ...rest} = fixtureFacts().sysctls
    // /proc/sys has tcp_max_tw_buckets on any Linux this runs on.
    expect(renderPlan(incidentReport(), {...fixtureFacts(), source: 'live', sysctls: rest}, TOPOLOGY, 'sysctl.d').text).toContain('net.ipv4.tcp_max_tw_buckets = 5000\n')
    const e = errorOf(() => renderPlan(incidentReport(), {...fixtureFacts(), sysctls: rest}, TOPOLOGY, 'sysctl.d'))
    expect([e.code, e.position.field]).toEqual(['generate.unknown-key', 'net.ipv4.tcp_max_tw_buckets'])
    mkdirSync(join(dir, 'sys/net/ipv4'), {recursive: true})
    writeFileSync(join(dir, 'sys/net/ipv4/tcp_fin_timeout'), '60\n')
    expect([liveKeyExists('net.ipv4.tcp_fin_timeout', dir), liveKeyExists('net.ipv4.tcp_tw_recycle', dir)]).toEqual([true, false])
  })

  it('only a sysctl.d file carries its settings over; another target is rendered from the plan alone', async () => {
    const output = join(dir, 'tuned.conf')
    await generate(req({output, target: 'tuned'}))
    const only = report([finding('client-port-exhaustion', [remedy({sysctl: {'net.ipv4.ip_local_port_range': '10000 65535'}, why: 'More source ports toward the cache.'})])])
    const r = await generate(req({output, target: 'tuned', report: only, rules, check: true}))
    expect([r.carried, r.dropped]).toEqual([undefined, undefined])
    expect(r.plan.entries.map((e) => e.key)).toEqual(['net.ipv4.ip_local_port_range'])
    expect(r.text).not.toContain('tcp_max_tw_buckets')
  })

  it('an error about a carried key names its line in the existing file', async () => {
    const output = join(dir, '60-twadvisor.conf')
    writeFileSync(output, '# Generated by twadvisor 0.1.0 (target sysctl.d); regenerate rather than edit.\n# fin: x\nnet.ipv4.tcp_fin_timeout = banana\n')
    const e = await refusal(generate(req({output, rules})))
    expect(e.position).toMatchObject({file: output, line: 3, field: 'net.ipv4.tcp_fin_timeout'})
    expect(e.message).toMatch(/^carried over from the existing file: /)
  })
})

// Every target starts with the same header and notes, says so when it carries nothing, and the
// pod fragment keeps to the kubelet's safe set per kernel (surviving mutants of
// src/generate/targets). Kernel minima from K8S_SAFE_SYSCTLS's sources: tcp_syncookies 4.6,
// ip_local_reserved_ports 3.16 (safe since Kubernetes 1.27), ip_local_port_range none.
describe('targets: header, notes, the empty plan, the pod fragment', () => {
  const noted = (): Plan => ({...plan(), notSysctl: ['keepalive-off'], betterRemedy: ['server-tw-collision-shared']})
  const empty = (): Plan => ({...plan(), entries: [], notSysctl: [], betterRemedy: []})

  it('each target begins with the header lines and the notes as comments', () => {
    for (const t of ['ansible', 'k8s', 'tuned'] as const) {
      const lines = render(t, noted()).split('\n')
      expect(lines[0]).toBe(`# Generated by twadvisor 9.9.9 (target ${t}); regenerate rather than edit.`)
      expect(lines[1]).toMatch(/^# Inputs: topology /)
      expect(lines).toContain('# Ranked above the sysctl here, a remedy that is not a sysctl exists for: server-tw-collision-shared (see twadvisor check).')
      expect(lines).toContain('# Not sysctls on this host (see twadvisor check): keepalive-off.')
    }
  })

  it('an empty plan is an empty list (ansible, k8s) or says there is nothing (tuned); a plan with entries does not', () => {
    expect(render('ansible', empty())).toContain('\n---\ntwadvisor_sysctls: []\n')
    expect(render('k8s', empty())).toContain('securityContext:\n  sysctls: []\n')
    const none = '# No sysctl changes: no finding on this host has a sysctl remedy.'
    expect(render('tuned', empty()).split('\n')).toContain(none)
    expect(render('tuned').split('\n')).not.toContain(none)
    expect(render('ansible')).not.toContain('twadvisor_sysctls: []')
    expect(render('k8s')).not.toContain('sysctls: []')
  })

  it('the pod fragment: a key with a kernel minimum is blocked below it, a key without one never, an unknown kernel never', () => {
    expect(podLevelBlocker('net.ipv4.tcp_syncookies', '4.4.0')).toBe('in the safe set only on kernel 4.6+ (this host runs 4.4.0)')
    expect(podLevelBlocker('net.ipv4.ip_local_reserved_ports', '3.10.0')).toBe('in the safe set only on kernel 3.16+ (this host runs 3.10.0)')
    expect(podLevelBlocker('net.ipv4.ip_local_port_range', '3.10.0')).toBeNull()
    expect(podLevelBlocker('net.ipv4.tcp_syncookies', null)).toBeNull()
    // The kubelet's kernel minima (kubernetes.io, kernel-version-requirements): keep-alive 4.5,
    // tcp_fin_timeout 4.6, tcp_rmem and tcp_wmem 4.15.
    for (const [key, min, below] of [
      ['net.ipv4.tcp_keepalive_time', '4.5', '4.4.0'],
      ['net.ipv4.tcp_keepalive_intvl', '4.5', '4.4.0'],
      ['net.ipv4.tcp_keepalive_probes', '4.5', '4.4.0'],
      ['net.ipv4.tcp_fin_timeout', '4.6', '4.5.0'],
      ['net.ipv4.tcp_wmem', '4.15', '4.14.0'],
    ] as const) {
      expect(podLevelBlocker(key, below)).toBe(`in the safe set only on kernel ${min}+ (this host runs ${below})`)
      expect(podLevelBlocker(key, min)).toBeNull()
    }
    const reserved: Plan = {...empty(), kernel: '6.8.0', entries: [{key: 'net.ipv4.ip_local_reserved_ports', value: '8080', ruleIds: ['r'], reasons: ['why'], flows: []}]}
    const text = render('k8s', reserved)
    expect(text).toContain('    # r: why (safe since Kubernetes 1.27)\n    - name: net.ipv4.ip_local_reserved_ports\n')
    // Every key fits the pod: no node-level block.
    expect(text).not.toContain('Not settable per pod')
  })
})

// settleReport with rules written for the test (loadRules from a scratch folder): host rules
// whose `when` reads the sysctls the plan sets, so each round's plan raises the next finding.
describe('settle: the plan followed to a fixed point, within its bound', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => ({dir, cleanup} = scratchDir('twsettle-')))
  afterEach(() => cleanup())

  /** A host rule firing on `when`, with one sysctl remedy `key = value`. */
  const hostRule = (id: string, severity: string, when: string, key: string, value: string) =>
    writeRule(dir, {id, severity, applies_to: 'host', when, evidence: '[host.flowCount]', remedies: [`  - sysctl: {${key}: '${value}'}`, '    why: w']})
  const settled = async () => {
    const [{loadRules}, {evaluateHost}, {settleReport}, {parseTopology}] = await Promise.all([
      import('../../src/rules/load.js'), import('../../src/rules/engine.js'), import('../../src/generate/settle.js'), import('../../src/topology/load.js'),
    ])
    const rules = loadRules(dir)
    const facts = fixtureFacts()
    const topology = parseTopology('flows:\n  - {name: f, role: client, peer: "198.18.0.1:80", qps: 1, closes_first: client, keepalive: true}\n', 't.yaml')
    const report = evaluateHost(facts, topology, rules)
    return {
      before: report.findings.map((f) => f.id),
      plan: planFromReport(report).entries.map((e) => `${e.key}=${e.value}`),
      after: settleReport(report, {facts, topology, rules}).findings.map((f) => f.id),
    }
  }

  it('follows a chain for at most 3 more rounds (MAX_ROUNDS: 4 evaluations in all), two findings per round', async () => {
    // Two chains side by side: c<r> asks for net.t.c<r> and d<r> for net.t.d<r>, and both of round
    // r fire only once BOTH keys of round r-1 are set. So no remedy alone raises a finding (host
    // judgement offers each as it is), and only the plan (both keys) raises the next round.
    const set = (k: string) => `'net.t.${k}' in sysctl`
    for (let r = 1; r <= 6; r++) {
      for (const side of ['c', 'd']) {
        const before = r === 1 ? '' : `${set(`c${r - 1}`)} && ${set(`d${r - 1}`)} && `
        hostRule(`${side}${r}`, 'warning', `${before}!(${set(`${side}${r}`)})`, `net.t.${side}${r}`, '1')
      }
    }
    // check's report: round 1's pair. Rounds 1-3 apply its plan: the pairs of rounds 2, 3 and 4
    // join; round 5's pair would need a fourth round, which the bound (a bound, not a goal) stops.
    expect(await settled()).toEqual({before: ['c1', 'd1'], plan: ['net.t.c1=1', 'net.t.d1=1'], after: ['c1', 'd1', 'c2', 'd2', 'c3', 'd3', 'c4', 'd4']})
  })

  it('stops when a round asks for no key the plan lacks: a finding that asks for a planned key is not added', async () => {
    // e (info, below c1: judgement lets c1's remedy raise it) fires once k1 is 1 and asks for
    // k1 = 2, a key the plan already sets. Added, its finding would put two values of k1 in the
    // plan; the round adds no key, so settling stops with check's findings.
    hostRule('c1', 'warning', "!('net.t.k1' in sysctl)", 'net.t.k1', '1')
    hostRule('e', 'info', "'net.t.k1' in sysctl && sysctl['net.t.k1'] == '1'", 'net.t.k1', '2')
    expect(await settled()).toEqual({before: ['c1'], plan: ['net.t.k1=1'], after: ['c1']})
  })
})
