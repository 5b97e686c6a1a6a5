// The fuzz suite (issue 11): for any input, the topology loader, the dump parser, --waive and
// the generators either accept it or throw the one error type with a one-line, escaped message;
// generated files set only planned keys; the CLI exits 0, 1 or 2, with at most one stderr line
// for 1, never a stack trace, and writes nothing but its declared output.
// CI runs a bounded number of cases (well under 60 s); `npm run fuzz` sets FUZZ_SCALE=20.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {parseWaive} from '../../src/check.js'
import {TwError} from '../../src/errors.js'
import {renderContext} from '../../src/generate/header.js'
import {planFromReport} from '../../src/generate/plan.js'
import {TARGETS} from '../../src/generate/targets/index.js'

const TARGET_NAMES = Object.keys(TARGETS) as (keyof typeof TARGETS)[]
import {validatePlan} from '../../src/generate/validate.js'
import {verifyRendered} from '../../src/generate/verify.js'
import {factsFromDump} from '../../src/sources/dump.js'
import {parseTopology} from '../../src/topology/load.js'
import {finding, fixtureFacts, remedy, report, ROOT} from '../generate/helpers.js'

const SCALE = Number(process.env.FUZZ_SCALE ?? 1)
const runs = (n: number) => Math.max(1, Math.round(n * SCALE))
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const opts = (n: number) => ({numRuns: runs(n), ...(SEED === undefined ? {} : {seed: SEED})})

/** Text that is hard on parsers: controls, line breaks of every kind, YAML indicators, huge numbers. */
const nasty = fc.oneof(
  fc.string({maxLength: 20}),
  fc.constantFrom('\n', '\r', '\u2028', '\u0085', '\u001b]0;x\u0007', '\t', '\u0000', '\ufeff', '#', ':', '- ', '&a', '*a', '!!binary', '---', '...', '{', '[', '"', "'", '|', '>'),
  fc.constantFrom('.inf', '-.inf', '.nan', '1e400', '1e12', '-1', '0', '0x10', '99999999999999999999', '6.1.0', '999.1junk'),
)

/** One line a user could break: a valid topology line, or a mangled one. */
const VALID_TOPOLOGY = readFileSync(join(ROOT, 'examples', 'incident', 'topology.yaml'), 'utf8').split('\n')
const topologyText = fc
  .array(fc.tuple(fc.nat(VALID_TOPOLOGY.length - 1), fc.constantFrom('keep', 'replace-value', 'insert', 'drop'), nasty), {maxLength: 6})
  .map((edits) => {
    const lines = [...VALID_TOPOLOGY]
    for (const [i, kind, text] of edits) {
      const at = Math.min(i, lines.length - 1)
      if (kind === 'replace-value') lines[at] = lines[at]!.replace(/:\s.*$/, `: ${text}`)
      else if (kind === 'insert') lines.splice(at, 0, text)
      else if (kind === 'drop') lines.splice(at, 1)
    }
    return lines.join('\n')
  })

const DUMP_LINES = readFileSync(join(ROOT, 'test', 'fixtures', 'sysctl-6.18.44.txt'), 'utf8').split('\n')
const JUDGED = ['net.ipv4.tcp_tw_reuse', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_max_tw_buckets', 'kernel.osrelease', 'net.ipv4.tcp_timestamps']
const dumpText = fc
  .array(fc.oneof(fc.tuple(fc.constantFrom(...JUDGED), nasty).map(([k, v]) => `${k} = ${v}`), nasty, fc.constantFrom(...DUMP_LINES.slice(0, 200))), {maxLength: 12})
  .map((extra) => [...DUMP_LINES.slice(0, 50), ...extra].join('\n'))

/** The one error contract: a TwError whose line has no control character and no line break. */
function expectCleanError(error: unknown): void {
  expect(error).toBeInstanceOf(TwError)
  const line = (error as TwError).oneLine()
  expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
}

describe('fuzz: library entry points', () => {
  it('the topology loader accepts or throws one clean TwError with a file position', () => {
    fc.assert(
      fc.property(topologyText, (text) => {
        try {
          const t = parseTopology(text, 'f.yaml')
          for (const f of t.flows) expect(Number.isFinite(f.qps)).toBe(true)
        } catch (error) {
          expectCleanError(error)
          expect((error as TwError).position.file).toBe('f.yaml')
        }
      }),
      opts(300),
    )
  })

  it('the dump parser accepts or throws one clean TwError; the fleet path agrees with the full one', () => {
    const keep = new Set(JUDGED)
    fc.assert(
      fc.property(dumpText, (text) => {
        let full: unknown
        let fast: unknown
        try {
          full = factsFromDump(text, 'd').sysctls
        } catch (error) {
          expectCleanError(error)
          full = (error as TwError).code
        }
        try {
          fast = factsFromDump(Buffer.from(text), 'd', {keep}).sysctls
        } catch (error) {
          expectCleanError(error)
          fast = (error as TwError).code
        }
        if (typeof full === 'string' || typeof fast === 'string') expect(fast).toEqual(full)
        else expect(fast).toEqual(Object.fromEntries(Object.entries(full as Record<string, string>).filter(([k]) => keep.has(k))))
      }),
      opts(300),
    )
  })

  it('--waive parses to ID or ID:flow, or is one clean TwError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({maxLength: 30}), fc.tuple(fc.constantFrom('client-port-exhaustion', ''), nasty, nasty).map((p) => p.join(':'))), (w) => {
        try {
          const {id, flow} = parseWaive(w)
          expect(flow === undefined ? id : `${id}:${flow}`).toBe(w)
          expect(id).not.toBe('')
        } catch (error) {
          expectCleanError(error)
        }
      }),
      opts(500),
    )
  })

  it('every generator either refuses the plan or writes exactly the planned keys, whatever the labels', () => {
    const facts = fixtureFacts()
    const key = fc.oneof(fc.constantFrom('net.ipv4.tcp_max_tw_buckets', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_fin_timeout', 'kernel.core_pattern'), nasty)
    const value = fc.oneof(fc.constantFrom('5000', '1024 65535', '2', '30', '|/tmp/x'), nasty)
    const label = fc.oneof(nasty, fc.string({maxLength: 300}))
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), {minLength: 1, maxLength: 3}), label, label, nasty, (settings, host, path, why) => {
        let plan
        try {
          plan = planFromReport(report(settings.map(([k, v], i) => finding(`r${i}`, [remedy({sysctl: {[k]: v}, why})])), {host}))
          validatePlan(plan, facts)
        } catch (error) {
          expectCleanError(error)
          return
        }
        for (const target of TARGET_NAMES) {
          const ctx = {...renderContext(plan, path, '9.9.9'), host}
          const text = TARGETS[target].render(plan, ctx)
          verifyRendered(target, text, plan)
        }
      }),
      opts(300),
    )
  })
})

describe('fuzz: the CLI end to end', () => {
  const BIN = join(ROOT, 'bin', 'run.js')
  it('exits 0, 1 or 2; one stderr line for 1; no stack trace; writes only its declared output', () => {
    fc.assert(
      fc.property(topologyText, dumpText, fc.constantFrom(...TARGET_NAMES), fc.constantFrom('check', 'generate'), (topo, dump, target, command) => {
        const dir = mkdtempSync(join(tmpdir(), 'twfuzz-'))
        try {
          writeFileSync(join(dir, 't.yaml'), topo)
          writeFileSync(join(dir, 'd.txt'), dump)
          const args = command === 'check' ? ['check', '-t', 't.yaml', '-s', 'd.txt'] : ['generate', '-t', 't.yaml', '-s', 'd.txt', '--target', target, '-o', 'out']
          const r = spawnSync(process.execPath, [BIN, ...args], {cwd: dir, encoding: 'utf8', timeout: 30_000, env: {...process.env, NO_COLOR: '1'}})
          expect([0, 1, 2]).toContain(r.status)
          expect(r.stderr).not.toMatch(/\n\s+at /)
          if (r.status === 1) expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
          const files = readdirSync(dir).sort()
          const allowed = command === 'generate' && r.status === 0 ? ['d.txt', 'out', 't.yaml'] : ['d.txt', 't.yaml']
          expect(files).toEqual(allowed)
          if (files.includes('out')) verifyFileKeys(readFileSync(join(dir, 'out'), 'utf8'))
        } finally {
          rmSync(dir, {recursive: true, force: true})
        }
      }),
      opts(6),
    )
  }, 180_000)
})

/** No generated file sets a key no rule of twadvisor could plan (kernel.core_pattern above all). */
function verifyFileKeys(text: string): void {
  expect(text).not.toMatch(/^\s*kernel\.core_pattern/m)
}
