import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt, commandNames, EXAMPLE_SYSCTL, EXAMPLE_TOPOLOGY, FIXTURES, type JsonReport, ROOT, run} from './helpers.js'

const SEVERITIES = ['info', 'warning', 'critical']
let tmp: string

beforeAll(() => {
  assertBuilt()
  tmp = mkdtempSync(join(tmpdir(), 'tw-e2e-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

function writeTmp(name: string, text: string): string {
  const file = join(tmp, name)
  writeFileSync(file, text)
  return file
}

function json(args: string[], input?: string): {code: number | null; report: JsonReport} {
  const r = run([...args, '--format', 'json'], {input})
  expect(r.stderr).toBe('')
  return {code: r.code, report: JSON.parse(r.stdout) as JsonReport}
}

/** No stack frames ("    at fn (file:line)") and no Node internals in what a user sees. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at .+[:(]/m)
  expect(text).not.toContain('node:internal')
}

function ruleIds(): string[] {
  return readdirSync(join(ROOT, 'rules'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => /^id:\s*(\S+)/m.exec(readFileSync(join(ROOT, 'rules', f), 'utf8'))![1]!)
}

describe('check --example (the original incident)', () => {
  it('exits 2 and prints the critical finding with its arithmetic', () => {
    const r = run(['check', '--example'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain('php-01')
    expect(r.stdout).toContain('CRITICAL')
    expect(r.stdout).toContain('server-tw-collision-shared · flow api-to-php')
    // kube-proxy's fully-random NAT recycles its 28,232 ports every 28,232 / 600 = 47.1 s (6.5+ NAT):
    // 1 − exp(−60/47.1) = 72 % of SYNs meet TIME_WAIT; below 28,232 / 120 s = 235/s no tuple is recycled.
    expect(r.stdout).toMatch(/fully-random ports, 28,232 per address\)\s+hands every connection a port/)
    expect(r.stdout).toMatch(/72 % of\s+new SYNs meet a tuple/)
    expect(r.stdout).toMatch(/Safe rate: 235 conn\/s \(margin 2\.55\)/)
    expect(r.stdout).toMatch(/exit 2/)
  })

  it('prints remedies with the numbers before → after, and never recommends tcp_rfc1337=1', () => {
    const r = run(['check', '--example'])
    expect(r.stdout).toMatch(/margin 1\.28 → 0\.638/)
    expect(r.stdout).not.toMatch(/tcp_rfc1337 = 1/)
  })

  it('--format json has the stable shape {hosts:[{host,kernel,findings:[...]}], summary}', () => {
    const {code, report} = json(['check', '--example'])
    expect(code).toBe(2)
    expect(Object.keys(report).sort()).toEqual(['hosts', 'summary'])
    expect(report.hosts).toHaveLength(1)
    const h = report.hosts[0]!
    expect(h.host).toBe('php-01')
    expect(h.kernel).toBe('5.15.0-91-generic')
    expect(h.findings.length).toBeGreaterThan(0)
    for (const f of h.findings) {
      expect(typeof f.id).toBe('string')
      expect(SEVERITIES).toContain(f.severity)
      expect(typeof f.title).toBe('string')
      expect(typeof f.message).toBe('string')
      expect(f.message).not.toMatch(/\{\{|\}\}/)
      if (f.flow !== undefined) expect(typeof f.flow).toBe('string')
      expect(f.evidence).toBeTypeOf('object')
      for (const v of Object.values(f.evidence)) expect(['number', 'string', 'boolean', 'object']).toContain(typeof v)
      expect(Array.isArray(f.remedies)).toBe(true)
      for (const rem of f.remedies) {
        expect(typeof rem.why).toBe('string')
        expect(rem.after).toBeTypeOf('object')
        expect(rem.sysctl !== undefined || rem.action !== undefined).toBe(true)
      }
    }
    const counted = {critical: 0, warning: 0, info: 0}
    for (const f of h.findings) if (!f.waived) counted[f.severity]++
    expect(report.summary).toEqual(counted)
  })

  it('--format json carries the incident numbers in the finding evidence', () => {
    const {report} = json(['check', '--example'])
    const f = report.hosts[0]!.findings.find((x) => x.id === 'server-tw-collision-shared')!
    expect(f).toBeDefined()
    expect(f.severity).toBe('critical')
    expect(f.flow).toBe('api-to-php')
    expect(f.evidence).toMatchObject({qps: 600, timeWaitSeconds: 60, senders: 8, harmBudget: 0.001, mechanism: 'rfc1337-stuck'})
    expect(f.evidence.collisionShare as number).toBeCloseTo(1 - Math.exp((-60 * 600) / 28232), 9)
    // 5.15 clients (offsets per host pair): 7 of 8 senders unrelated; rfc1337=1 keeps rejected entries.
    expect(f.evidence.rejectShare as number).toBeCloseTo((7 / 16) * (1 - Math.exp((-60 * 600) / 28232)), 9)
    expect(f.evidence.stallShare as number).toBeGreaterThan(0.001)
    expect(f.evidence.safeQps as number).toBeCloseTo(28232 / 120, 3)
    // every remedy was checked by re-running the model: its margin after is at most 1.
    for (const rem of f.remedies) expect((rem.after.margin as number) <= 1 + 1e-9).toBe(true)
  })

  it('--json prints the same document as --format json', () => {
    const a = run(['check', '--example', '--json'])
    const b = run(['check', '--example', '--format', 'json'])
    expect(a.code).toBe(2)
    expect(JSON.parse(a.stdout)).toEqual(JSON.parse(b.stdout))
  })

  it('--format sarif is SARIF 2.1.0 with one result per finding, located in the topology file', () => {
    const r = run(['check', '--example', '--format', 'sarif'])
    expect(r.code).toBe(2)
    const sarif = JSON.parse(r.stdout) as {
      version: string
      $schema: string
      runs: {
        tool: {driver: {name: string; rules: {id: string}[]}}
        results: {ruleId: string; level: string; message: {text: string}; locations: {physicalLocation: {artifactLocation: {uri: string}; region: {startLine: number}}}[]}[]
      }[]
    }
    expect(sarif.version).toBe('2.1.0')
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/)
    expect(sarif.runs).toHaveLength(1)
    const run0 = sarif.runs[0]!
    expect(run0.tool.driver.name).toBe('twadvisor')
    const ids = new Set(run0.tool.driver.rules.map((x) => x.id))
    expect(run0.results.length).toBeGreaterThan(0)
    for (const res of run0.results) {
      expect(ids.has(res.ruleId)).toBe(true)
      expect(['error', 'warning', 'note']).toContain(res.level)
      expect(res.message.text.length).toBeGreaterThan(0)
    }
    const shared = run0.results.find((x) => x.ruleId === 'server-tw-collision-shared')!
    expect(shared.level).toBe('error')
    // the api-to-php flow starts on line 12 of examples/incident/topology.yaml
    const loc = shared.locations[0]!.physicalLocation
    expect(loc.artifactLocation.uri).toMatch(/examples\/incident\/topology\.yaml$/)
    const lines = readFileSync(EXAMPLE_TOPOLOGY, 'utf8').split('\n')
    expect(lines[loc.region.startLine - 1]).toMatch(/- name: api-to-php/)
    const {report} = json(['check', '--example'])
    expect(run0.results).toHaveLength(report.hosts[0]!.findings.filter((f) => !f.waived).length)
  })

  it('--format sarif locates the findings of a topology without host: too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-sarif-'))
    try {
      const topology = join(dir, 'topology.yaml')
      writeFileSync(topology, readFileSync(EXAMPLE_TOPOLOGY, 'utf8').replace(/^host: .*\n/m, ''))
      const r = run(['check', '-t', topology, '-s', EXAMPLE_SYSCTL, '--format', 'sarif'])
      expect(r.code).toBe(2)
      const results = (JSON.parse(r.stdout) as {runs: {results: {ruleId: string; locations?: {physicalLocation: {artifactLocation: {uri: string}}}[]}[]}[]}).runs[0]!.results
      expect(results.length).toBeGreaterThan(0)
      for (const res of results) expect(res.locations?.[0]?.physicalLocation.artifactLocation.uri, res.ruleId).toBe(topology)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('exit codes: --fail-on and waivers', () => {
  /** ID:flow (or ID) for every finding at `severity` in the example. */
  function waiversFor(severity: string): string[] {
    const {report} = json(['check', '--example'])
    return report.hosts[0]!.findings.filter((f) => f.severity === severity).map((f) => (f.flow ? `${f.id}:${f.flow}` : f.id))
  }

  it('waiving every critical finding with --waive ID:flow turns exit 2 into 0 (fail-on critical)', () => {
    const waive = waiversFor('critical')
    expect(waive.length).toBeGreaterThan(0)
    const r = run(['check', '--example', ...waive.flatMap((w) => ['--waive', w])])
    expect(r.code).toBe(0)
    const {report} = json(['check', '--example', ...waive.flatMap((w) => ['--waive', w])])
    expect(report.summary.critical).toBe(0)
    const waived = report.hosts[0]!.findings.filter((f) => f.waived)
    expect(waived.map((f) => (f.flow ? `${f.id}:${f.flow}` : f.id)).sort()).toEqual([...waive].sort())
  })

  it('text headings count what the summary line counts: a waived finding is listed as waived, not counted', () => {
    const r = run(['check', '--example', '--waive', 'server-tw-collision-shared:api-to-php'])
    const {report} = json(['check', '--example', '--waive', 'server-tw-collision-shared:api-to-php'])
    const critical = report.hosts[0]!.findings.filter((f) => f.severity === 'critical')
    expect(critical.filter((f) => f.waived)).toHaveLength(1)
    expect(r.stdout).toContain(`CRITICAL (${critical.length - 1}, 1 waived)`)
    expect(r.stdout).toMatch(new RegExp(`: ${critical.length - 1} critical, `))
    expect(report.summary.critical).toBe(critical.length - 1)
  })

  it('waiving only one of two critical findings keeps exit 2', () => {
    const r = run(['check', '--example', '--waive', 'server-tw-collision-shared:api-to-php'])
    expect(r.code).toBe(2)
  })

  it('--waive ID without a flow waives the rule for every flow', () => {
    const ids = [...new Set(waiversFor('critical').map((w) => w.split(':')[0]!))]
    expect(run(['check', '--example', ...ids.flatMap((id) => ['--waive', id])]).code).toBe(0)
  })

  it('a waiver for another flow does not waive this one', () => {
    // Another flow of the same topology (a flow no topology has is bad input, tested in test/harden).
    const other = (flow?: string) => ['api-to-php', 'php-to-cache', 'php-to-db'].find((f) => f !== flow)!
    const waive = waiversFor('critical').map((w) => `${w.split(':')[0]}:${other(w.split(':')[1])}`)
    expect(run(['check', '--example', ...waive.flatMap((w) => ['--waive', w])]).code).toBe(2)
  })

  it('--fail-on warning fails on a warning once the criticals are waived; --fail-on critical does not', () => {
    const crit = waiversFor('critical').flatMap((w) => ['--waive', w])
    const warnings = waiversFor('warning')
    expect(warnings.length).toBeGreaterThan(0) // php-to-db: connect() scans (client-connect-scan)
    expect(run(['check', '--example', ...crit, '--fail-on', 'warning']).code).toBe(2)
    expect(run(['check', '--example', ...crit, '--fail-on', 'critical']).code).toBe(0)
  })

  it('--fail-on info fails on info findings alone', () => {
    const waive = [...waiversFor('critical'), ...waiversFor('warning')].flatMap((w) => ['--waive', w])
    expect(waiversFor('info').length).toBeGreaterThan(0)
    expect(run(['check', '--example', ...waive, '--fail-on', 'info']).code).toBe(2)
    expect(run(['check', '--example', ...waive, '--fail-on', 'warning']).code).toBe(0)
  })

  it('waivers in the topology file work like --waive', () => {
    const topo = readFileSync(EXAMPLE_TOPOLOGY, 'utf8')
    const waivers = waiversFor('critical')
      .map((w) => {
        const [id, flow] = w.split(':')
        return `  - id: ${id}\n${flow ? `    flow: ${flow}\n` : ''}    reason: accepted for the test\n`
      })
      .join('')
    const file = writeTmp('waived.yaml', `${topo.replace(/^flows:/m, `waivers:\n${waivers}flows:`)}`)
    const r = run(['check', '-t', file, '-s', EXAMPLE_SYSCTL])
    expect(r.code).toBe(0)
    expect(run(['check', '-t', file, '-s', EXAMPLE_SYSCTL, '--format', 'json']).stdout).toContain('accepted for the test')
  })

  it('--fail-on with a value that is not a severity is exit 1', () => {
    const r = run(['check', '--example', '--fail-on', 'fatal'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/fail-on/)
  })
})

describe('bad input: exit 1, one line on stderr, no stack trace', () => {
  it('a topology with an unknown key: file:line:col, the field and the nearest key', () => {
    const file = writeTmp('typo.yaml', 'host: x\nflows:\n  - name: a\n    role: client\n    peer: 10.0.0.1:80\n    qps: 5\n    closes_frist: server\n')
    const r = run(['check', '-t', file, '-s', EXAMPLE_SYSCTL])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`${file}:7:5:`)
    expect(lines[0]).toContain('flows.0.closes_frist')
    expect(lines[0]).toContain('did you mean "closes_first"?')
    expectNoStack(r.stderr)
  })

  it('a topology with a YAML syntax error names file:line', () => {
    const file = writeTmp('syntax.yaml', 'flows:\n  - name: a\n    role: client: x\n')
    const r = run(['check', '-t', file, '-s', EXAMPLE_SYSCTL])
    expect(r.code).toBe(1)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(`${file}:3:`)
    expectNoStack(r.stderr)
  })

  it('with --json the error is a JSON object on stdout with code, file, line, col and field', () => {
    const file = writeTmp('typo-json.yaml', 'flows:\n  - name: a\n    role: proxy\n    peer: 10.0.0.1:80\n    qps: 5\n    closes_first: server\n')
    const r = run(['check', '-t', file, '-s', EXAMPLE_SYSCTL, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toEqual({
      error: expect.objectContaining({code: 'topology.invalid', file, line: 3, col: 11, field: 'flows.0.role'}) as unknown,
    })
  })

  it('a missing topology file is exit 1 naming the file', () => {
    const missing = join(tmp, 'no-such-topology.yaml')
    const r = run(['check', '-t', missing, '-s', EXAMPLE_SYSCTL])
    expect(r.code).toBe(1)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(missing)
    expect(r.stderr).toContain('ENOENT')
    expectNoStack(r.stderr)
  })

  it('a missing sysctl dump is exit 1 naming the file', () => {
    const missing = join(tmp, 'no-such-dump.txt')
    const r = run(['check', '-t', EXAMPLE_TOPOLOGY, '-s', missing])
    expect(r.code).toBe(1)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(missing)
    expectNoStack(r.stderr)
  })

  it('a broken sysctl dump is exit 1 naming file:line', () => {
    const dump = writeTmp('broken-dump.txt', 'net.ipv4.tcp_tw_reuse = 1\nnot a sysctl line\n')
    const r = run(['check', '-t', EXAMPLE_TOPOLOGY, '-s', dump])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${dump}:2:1:`)
    expectNoStack(r.stderr)
  })

  it('no topology at all is exit 1 with a hint to pass --topology or --example', () => {
    const r = run(['check', '-s', EXAMPLE_SYSCTL])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/--topology/)
    expectNoStack(r.stderr)
  })

  it('--example with --topology is exit 1 and the one line says which flags conflict', () => {
    const r = run(['check', '--example', '-t', EXAMPLE_TOPOLOGY])
    expect(r.code).toBe(1)
    expectNoStack(r.stderr)
    // The one line must carry the reason, not only oclif's preamble "The following error occurred:".
    expect(r.stderr).toMatch(/--topology.*--example|--example.*--topology/)
  })

  it('an unknown flag is exit 1', () => {
    const r = run(['check', '--example', '--no-such-flag'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('--no-such-flag')
    expectNoStack(r.stderr)
  })

  it('--debug adds the stack trace', () => {
    const r = run(['check', '-t', join(tmp, 'nope.yaml'), '-s', EXAMPLE_SYSCTL, '--debug'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^\s+at /m)
  })
})

describe('--sysctl-file - reads the dump from stdin', () => {
  it('the example dump on stdin gives the same findings as the file', () => {
    const fromFile = json(['check', '-t', EXAMPLE_TOPOLOGY, '-s', EXAMPLE_SYSCTL])
    const fromStdin = json(['check', '-t', EXAMPLE_TOPOLOGY, '-s', '-'], readFileSync(EXAMPLE_SYSCTL, 'utf8'))
    expect(fromStdin.code).toBe(2)
    expect(fromStdin.report.hosts[0]!.kernel).toBe('5.15.0-91-generic')
    expect(fromStdin.report.hosts[0]!.source).toBe('stdin')
    expect(fromStdin.report.hosts[0]!.findings).toEqual(fromFile.report.hosts[0]!.findings)
  })

  it('the real 6.18 dump on stdin is read as kernel 6.18.44', () => {
    const {report} = json(['check', '-t', EXAMPLE_TOPOLOGY, '-s', '-'], readFileSync(join(FIXTURES, 'sysctl-6.18.44.txt'), 'utf8'))
    expect(report.hosts[0]!.kernel).toBe('6.18.44-fc-v669')
  })

  it('the fabricated 3.10 dump with tcp_tw_recycle = 1 is read and flagged, without crashing on absent keys', () => {
    const r = run(['check', '-t', EXAMPLE_TOPOLOGY, '-s', '-', '--format', 'json'], {input: readFileSync(join(FIXTURES, 'sysctl-3.10-tw-recycle.txt'), 'utf8')})
    expect([0, 2]).toContain(r.code)
    const report = JSON.parse(r.stdout) as JsonReport
    expect(report.hosts[0]!.kernel).toBe('3.10.0-1160.el7.x86_64')
    expect(report.hosts[0]!.findings.map((f) => f.id)).toContain('tw-recycle-enabled')
  })

  it('a broken dump on stdin is exit 1 naming stdin and the line', () => {
    const r = run(['check', '-t', EXAMPLE_TOPOLOGY, '-s', '-'], {input: 'net.ipv4.tcp_tw_reuse = 1\n\ngarbage\n'})
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('stdin:3:1:')
  })
})

describe('help, rules and explain', () => {
  it('finds the commands to check (at least check, rules, explain)', () => {
    expect(commandNames()).toEqual(expect.arrayContaining(['check', 'explain', 'rules']))
  })

  for (const cmd of commandNames()) {
    it(`${cmd} --help exits 0 and prints its usage`, () => {
      const r = run([cmd, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('USAGE')
      expect(r.stdout).toContain(`twadvisor ${cmd}`)
    })
  }

  it('top-level --help exits 0 and lists check, rules and explain', () => {
    const r = run(['--help'])
    expect(r.code).toBe(0)
    for (const c of ['check', 'rules', 'explain']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\s`, 'm'))
  })

  it('rules lists every rule file in rules/ with its severity', () => {
    const r = run(['rules'])
    expect(r.code).toBe(0)
    const ids = ruleIds()
    expect(ids.length).toBeGreaterThan(0)
    for (const id of ids) expect(r.stdout).toMatch(new RegExp(`^${id}\\s+(info|warning|critical)\\b`, 'm'))
  })

  it('explain ID prints the rule in full: title, condition, explanation, references', () => {
    const r = run(['explain', 'server-tw-collision-shared'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('server-tw-collision-shared')
    expect(r.stdout).toContain('severity: critical')
    expect(r.stdout).toContain("flow.closes_first == 'server' && model.crossSenderHarm")
    expect(r.stdout).toContain('TIME_WAIT')
    expect(r.stdout).toContain('RFC 1337')
  })

  it('explain works for every rule', () => {
    for (const id of ruleIds()) expect(run(['explain', id]).code, id).toBe(0)
  })

  it('explain nonexistent is exit 1 with a hint to list the rules', () => {
    const r = run(['explain', 'nonexistent'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('nonexistent')
    expect(r.stderr).toContain('twadvisor rules')
    expectNoStack(r.stderr)
  })

  it('explain with a near-miss id suggests the right one', () => {
    const r = run(['explain', 'server-tw-colision-shared'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('did you mean "server-tw-collision-shared"?')
  })
})

describe('help and framework errors read like the tool', () => {
  it('every command’s USAGE names real flags: no empty alternatives from oclif’s exclusive lists', () => {
    for (const name of commandNames()) {
      const r = run([name, '--help'])
      expect(r.code, name).toBe(0)
      const usage = r.stdout.slice(r.stdout.indexOf('USAGE'), r.stdout.indexOf('\n\n', r.stdout.indexOf('USAGE')))
      expect(usage, name).toContain(`$ twadvisor ${name}`)
      expect(usage, `${name}: ${usage}`).not.toMatch(/\|\s*\||\|\s*[\])]|[[(]\s*\|/)
    }
  })

  it('an unknown command is one line in the tool’s form, with the nearest command, exit 1', () => {
    const r = run(['chekc', '--example'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('twadvisor: error: unknown command "chekc" (did you mean "check"?)\n')
  })

  it('a missing argument is one line naming it, exit 1', () => {
    const r = run(['explain'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('twadvisor: error: missing argument ID: rule id (see `twadvisor rules`)\n')
  })
})
