#!/usr/bin/env node
// Where `check`'s start-up goes: each heavy import alone, as a cold process, against `node -e 0`
// in the same run (alternating, median of N). The "+ms" column is the cost over bare node.
// Companion of bench/startup.js, for when its ratio is above target. Reports only; exit 0.
//
//   node bench/imports.js            # N=15
//   BENCH_N=31 node bench/imports.js
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const N = Math.max(1, Number.parseInt(process.env.BENCH_N ?? '15', 10) || 15)
const url = (p) => pathToFileURL(join(ROOT, p)).href
const imp = (...specs) => ['--input-type=module', '-e', specs.map((s) => `await import(${JSON.stringify(s)});`).join('')]

const CASES = [
  {name: 'node -e 0', args: ['-e', '0']},
  {name: 'import @oclif/core (node_modules, file by file)', args: imp('@oclif/core')},
  {name: 'import dist/bundle/cli-entry.js (bundled oclif + command list)', args: imp(url('dist/bundle/cli-entry.js')), need: 'dist/bundle/cli-entry.js'},
  {name: 'import yaml', args: imp('yaml')},
  {name: 'import @marcbachmann/cel-js', args: imp('@marcbachmann/cel-js')},
  {name: 'import dist/rules/cel.js (cel-js + Environment + functions)', args: imp(url('dist/rules/cel.js')), need: 'dist/rules/cel.js'},
  {name: 'import dist/rules/load.js (yaml + cel + validators)', args: imp(url('dist/rules/load.js')), need: 'dist/rules/load.js'},
  {name: 'import dist/check.js (engine, model, rules)', args: imp(url('dist/check.js')), need: 'dist/check.js'},
  {name: 'import ajv', args: imp('ajv')},
  {name: 'twadvisor --version (oclif start, no command)', args: [join(ROOT, 'bin', 'run.js'), '--version']},
  {name: 'twadvisor rules', args: [join(ROOT, 'bin', 'run.js'), 'rules']},
  {name: 'twadvisor check --example --format json', args: [join(ROOT, 'bin', 'run.js'), 'check', '--example', '--format', 'json']},
].filter((c) => !c.need || existsSync(join(ROOT, c.need)))

function once(args) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, {cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
  return {ms: Number(process.hrtime.bigint() - t0) / 1e6, failed: r.status !== 0 && r.status !== 2 ? (r.stderr || '').split('\n')[0] : undefined}
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * The same pieces imported one after another in ONE process, in the order `check` needs them:
 * each step's time is what it adds on top of the ones before (shared code counted once).
 */
function marginal() {
  const steps = [
    ['oclif + command list (dist/bundle/cli-entry.js)', url('dist/bundle/cli-entry.js')],
    ['topology loader: yaml + generated validator (dist/topology/load.js)', url('dist/topology/load.js')],
    ['sysctl sources (dist/sources/dump.js, proc.js)', url('dist/sources/dump.js'), url('dist/sources/proc.js')],
    ['CEL: cel-js + Environment (dist/rules/cel.js)', url('dist/rules/cel.js')],
    ['rules loader + engine + model (dist/check.js)', url('dist/check.js')],
    ['renderers (dist/render/json.js, text.js)', url('dist/render/json.js'), url('dist/render/text.js')],
  ].filter(([, ...files]) => files.every((f) => existsSync(fileURLToPath(f))))
  const code = [
    'const t = [performance.now()];',
    ...steps.map(([, ...files]) => `${files.map((f) => `await import(${JSON.stringify(f)});`).join('')}t.push(performance.now());`),
    'console.log(JSON.stringify(t.slice(1).map((x, i) => x - t[i])));',
  ].join('')
  const runs = []
  for (let i = 0; i < N; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {cwd: ROOT, encoding: 'utf8'})
    if (r.status === 0) runs.push(JSON.parse(r.stdout))
  }
  if (runs.length === 0) return console.log('\n  (marginal costs: the probe failed to run)')
  console.log(`\n  marginal cost in one process, median of ${runs.length} (ms):`)
  steps.forEach(([name], k) => console.log(`  ${median(runs.map((r) => r[k])).toFixed(1).padStart(9)}   ${name}`))
}

try {
  console.log(`start-up by import: ${N} cold runs each, alternating; node ${process.version}`)
  for (const c of CASES) once(c.args)
  const times = CASES.map(() => [])
  const failed = new Map()
  for (let i = 0; i < N; i++)
    CASES.forEach((c, k) => {
      const r = once(c.args)
      times[k].push(r.ms)
      if (r.failed && !failed.has(c.name)) failed.set(c.name, r.failed)
    })
  const base = median(times[0])
  console.log('\n  median ms     +ms   ratio   what')
  CASES.forEach((c, k) => {
    const m = median(times[k])
    console.log(`  ${m.toFixed(1).padStart(9)}  ${(m - base).toFixed(1).padStart(6)}   ${(m / base).toFixed(2).padStart(5)}   ${c.name}`)
  })
  for (const [name, why] of failed) console.log(`  warning: "${name}" failed: ${why}`)
  marginal()
} catch (error) {
  console.log(`bench/imports: ${error instanceof Error ? error.message : String(error)}`)
}
process.exitCode = 0
