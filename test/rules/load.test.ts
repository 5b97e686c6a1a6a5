import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {loadRules, RULES_DIR, rulesDigest} from '../../src/rules/load.js'

// The rule loader without the build's bundle: a broken rule file is one TwError naming the file,
// the line and the field, and nothing is half-loaded. The bundle (dist/generated/rules.json) is
// what `loadRules()` normally returns; the full load must give the same rules.

const RULE = [
  'id: r1',
  'title: t',
  'severity: warning',
  'applies_to: client',
  'when: model.portExhaustion',
  'message: "at {{ model.qps }}/s"',
  'evidence: [model.qps, flow.qps]',
  'facts: [port_parity_soft]',
  'remedies:',
  '  - sysctl: {net.ipv4.ip_local_port_range: "{{ model.suggestedPortRange }}"}',
  '    why: w {{ model.qps }}',
  '    when: model.suggestedPortRange != null',
  '    facts: [ip_bind_address_no_port]',
  '  - action: "keep-alive {{ flow.name }}"',
  '    flow: {qps: "{{ int(model.targetQps) }}"}',
  '    why: w',
  'explanation: e',
  'references: [r]',
  'cases:',
  '  fires: [{flow: {role: client, qps: 30000, closes_first: client}}]',
  '  passes: [{flow: {role: client, qps: 1, closes_first: client}}]',
]
const text = (edit: (lines: string[]) => string[] = (l) => l) => edit([...RULE]).join('\n') + '\n'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-rules-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function refusal(files: Record<string, string>): TwError {
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body)
  try {
    loadRules(dir)
  } catch (error) {
    if (error instanceof TwError) return error
    throw error
  }
  throw new Error('loaded')
}

describe('loadRules', () => {
  it('the full load gives the bundle\'s rules, in file-name order', () => {
    const bundled = loadRules()
    const full = loadRules(RULES_DIR, {bundle: false})
    const plain = (rs: typeof full) => rs.map(({compiled: _c, ...r}) => r)
    expect(plain(full)).toEqual(plain(bundled))
    expect(full.map((r) => r.file)).toEqual([...full.map((r) => r.file)].sort())
    expect(full.length).toBeGreaterThan(20)
    // The full load compiled every expression up front.
    expect(full[0]!.compiled.has(full[0]!.when)).toBe(true)
  })

  it('reads *.yaml only, compiles every expression of a valid rule, defaults remedies to none', () => {
    writeFileSync(join(dir, 'notes.txt'), 'not a rule')
    mkdirSync(join(dir, 'sub.d'))
    writeFileSync(join(dir, 'b.yaml'), text())
    writeFileSync(join(dir, 'a.yaml'), text((l) => [...l.slice(0, 8).map((x) => x.replace('r1', 'r0')), ...l.slice(16)]))
    const rules = loadRules(dir)
    expect(rules.map((r) => [r.id, r.file])).toEqual([['r0', join(dir, 'a.yaml')], ['r1', join(dir, 'b.yaml')]])
    expect(rules[0]!.remedies).toEqual([])
    for (const e of ['model.portExhaustion', 'model.qps', 'flow.qps', 'model.suggestedPortRange', 'model.suggestedPortRange != null', 'flow.name', 'int(model.targetQps)']) {
      expect(rules[1]!.compiled.has(e)).toBe(true)
    }
  })

  it('an empty folder has no rules; a folder that cannot be read is an error', () => {
    expect(loadRules(dir)).toEqual([])
    let err: TwError | undefined
    try {
      loadRules(join(dir, 'missing'))
    } catch (error) {
      err = error as TwError
    }
    expect(err?.code).toBe('rules.read')
    expect(err?.message).toBe('cannot read the rules folder: ENOENT')
    expect(err?.position).toEqual({file: join(dir, 'missing')})
  })

  it('rules come in file-name order, as JavaScript orders the names', () => {
    // Node's readdir already returns names sorted, but by their UTF-8 bytes (libuv's scandir
    // sort); JavaScript compares UTF-16 code units. The two differ for a character above U+FFFF
    // (a surrogate pair, 0xD83D...) against one in U+E000–U+FFFF: '\u{1F600}' (UTF-8 F0 9F ...)
    // comes after '\uFF5E' (UTF-8 EF BD 9E) by bytes, before it by code units.
    for (const [name, id] of [['\uFF5E.yaml', 'r2'], ['\u{1F600}.yaml', 'r1'], ['a.yaml', 'r0']]) writeFileSync(join(dir, name!), text((l) => l.map((x) => x.replace('id: r1', `id: ${id}`))))
    expect(loadRules(dir).map((r) => r.id)).toEqual(['r0', 'r1', 'r2'])
  })

  it('a key given twice in one rule file is refused, not the last one taken', () => {
    const e = refusal({'r.yaml': text((l) => [...l, 'severity: critical'])})
    expect(e.code).toBe('rules.yaml')
    expect(e.position.file).toBe(join(dir, 'r.yaml'))
    expect(e.message).toMatch(/^Map keys must be unique/)
  })

  it('YAML that does not parse: file, line and column', () => {
    const e = refusal({'r.yaml': text((l) => [...l.slice(0, 3), 'applies_to: [client', ...l.slice(4)])})
    expect(e.code).toBe('rules.yaml')
    expect(e.position.file).toBe(join(dir, 'r.yaml'))
    expect(e.position.line).toBeGreaterThanOrEqual(4)
  })

  it('a schema error names the field and its line', () => {
    const bad = refusal({'r.yaml': text((l) => l.map((x) => x.replace('severity: warning', 'severity: loud')))})
    expect(bad.code).toBe('rules.invalid')
    expect(bad.position).toMatchObject({file: join(dir, 'r.yaml'), line: 3, col: 11, field: 'severity'})
    // The schema's own words (a value outside the list), not a stand-in.
    expect(bad.message).toBe('must be equal to one of the allowed values')
    rmSync(join(dir, 'r.yaml'))
    const missing = refusal({'r.yaml': text((l) => l.filter((x) => !x.startsWith('title:')))})
    expect(missing.position.field).toBe('title')
    expect(missing.message).toBe("must have required property 'title' \"title\"")
    rmSync(join(dir, 'r.yaml'))
    const extra = refusal({'r.yaml': text((l) => [...l, 'colour: red'])})
    expect(extra.position.field).toBe('colour')
    expect(extra.message).toContain('"colour"')
  })

  it('a gate must name a kernel fact: the rule\'s and a remedy\'s', () => {
    const e = refusal({'r.yaml': text((l) => l.map((x) => x.replace('facts: [port_parity_soft]', 'facts: [port_parity_soft, no_such_fact]')))})
    expect(e.code).toBe('rules.invalid')
    expect(e.message).toContain('unknown kernel fact "no_such_fact"')
    expect(e.position).toMatchObject({line: 8, field: 'facts.1'})
    rmSync(join(dir, 'r.yaml'))
    const r = refusal({'r.yaml': text((l) => l.map((x) => x.replace('[ip_bind_address_no_port]', '[nope]')))})
    expect(r.position).toMatchObject({line: 13, field: 'remedies.0.facts.0'})
  })

  it('a bad CEL expression names where it is: when, evidence, message, a remedy', () => {
    const cases: [(l: string[]) => string[], string, number][] = [
      [(l) => l.map((x) => x.replace('when: model.portExhaustion', 'when: model.portExhaustion &&')), 'when', 5],
      [(l) => l.map((x) => x.replace('flow.qps]', 'flow.qps +]')), 'evidence.1', 7],
      [(l) => l.map((x) => x.replace('at {{ model.qps }}', 'at {{ model.qps) }}')), 'message', 6],
      [(l) => l.map((x) => x.replace('when: model.suggestedPortRange != null', 'when: model.suggestedPortRange !=')), 'remedies.0.when', 12],
      [(l) => l.map((x) => x.replace('{{ int(model.targetQps) }}', '{{ int(model.targetQps }}')), 'remedies.1', 14],
      [(l) => l.map((x) => x.replace('keep-alive {{ flow.name }}', 'keep-alive {{ flow. }}')), 'remedies.1', 14],
      [(l) => l.map((x) => x.replace('why: w {{ model.qps }}', 'why: w {{ model. }}')), 'remedies.0', 10],
    ]
    for (const [edit, field, line] of cases) {
      const e = refusal({'r.yaml': text(edit)})
      expect([e.code, e.position.field, e.position.line]).toEqual(['rules.expression', field, line])
      expect(e.message).toMatch(/^bad CEL expression: /)
      rmSync(join(dir, 'r.yaml'))
    }
    // Type errors count too, not only syntax.
    const t = refusal({'r.yaml': text((l) => l.map((x) => x.replace('when: model.portExhaustion', 'when: 1 + "a"')))})
    expect([t.code, t.position.field]).toEqual(['rules.expression', 'when'])
  })

  it('two files with one id', () => {
    const e = refusal({'a.yaml': text(), 'b.yaml': text()})
    expect(e.code).toBe('rules.duplicate')
    expect(e.message).toBe(`rule id "r1" is also used by ${join(dir, 'a.yaml')}`)
    expect(e.position).toMatchObject({file: join(dir, 'b.yaml'), field: 'id'})
  })

  it('the bundle\'s digest changes with any name or byte', () => {
    const d = rulesDigest(['a.yaml', 'b.yaml'], ['x', 'y'])
    expect(d).toMatch(/^[0-9a-f]{64}$/)
    expect(rulesDigest(['a.yaml', 'b.yaml'], ['x', 'y'])).toBe(d)
    expect(rulesDigest(['a.yaml', 'c.yaml'], ['x', 'y'])).not.toBe(d)
    expect(rulesDigest(['a.yaml', 'b.yaml'], ['x', 'z'])).not.toBe(d)
    // The separators keep a name's end and a text's start apart.
    expect(rulesDigest(['a.yamlx'], [''])).not.toBe(rulesDigest(['a.yaml'], ['x']))
  })
})
