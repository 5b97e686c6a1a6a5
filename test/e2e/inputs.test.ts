// Inputs that would silently produce a wrong answer are errors instead.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt, EXAMPLE_TOPOLOGY, FIXTURES, run} from './helpers.js'

describe('check refuses inputs that would mislead', () => {
  let dir = ''
  beforeAll(() => {
    assertBuilt()
    dir = mkdtempSync(join(tmpdir(), 'twinputs-'))
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('an empty sysctl dump on stdin is exit 1, not findings about defaults', () => {
    const r = run(['check', '-t', EXAMPLE_TOPOLOGY, '--sysctl-file', '-'], {input: ''})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^twadvisor: error: stdin: the sysctl dump has no keys/)
    expect(r.stdout).toBe('')
  })

  it('--waive with a rule id that does not exist is exit 1 with the nearest id', () => {
    const r = run(['check', '--example', '--waive', 'keepalive-of'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('no rule "keepalive-of" to waive (did you mean "keepalive-off"?)')
  })

  it('a topology waiver naming no rule is exit 1 with file, line and field', () => {
    const file = join(dir, 'topology.yaml')
    writeFileSync(
      file,
      ['waivers:', '  - id: keepalive-of', '    reason: pool next sprint', 'flows:', '  - {name: a, role: client, peer: 198.18.0.2:80, qps: 50, closes_first: server}', ''].join('\n'),
    )
    const r = run(['check', '-t', file, '-s', join(FIXTURES, 'sysctl-6.18.44.txt')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${file}:2: waivers.0.id: no rule "keepalive-of" to waive (did you mean "keepalive-off"?)`)
  })

  it('a known waiver is accepted and marks the finding waived', () => {
    const r = run(['check', '--example', '--waive', 'keepalive-off', '--format', 'json'])
    const out = JSON.parse(r.stdout) as {hosts: {findings: {id: string; waived?: {reason: string}}[]}[]}
    const keepalive = out.hosts[0]!.findings.filter((f) => f.id === 'keepalive-off')
    expect(keepalive.length).toBeGreaterThan(0)
    expect(keepalive.every((f) => f.waived !== undefined)).toBe(true)
  })
})
