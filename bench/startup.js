#!/usr/bin/env node
// Start-up cost of the built CLI, as a cold process, against `node -e 0` measured in the same
// run. The commands alternate (node, check --example, check live, node, ...) so drift in the
// machine's load hits all of them alike. It reports; it never fails the build (exit 0 always).
//
//   node bench/startup.js            # N=15 runs of each
//   BENCH_N=41 node bench/startup.js
//
// Needs `npm run build` first (it times bin/run.js, which loads dist/).
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin', 'run.js')
const N = Math.max(1, Number.parseInt(process.env.BENCH_N ?? '15', 10) || 15)
const TARGET = 3.0
const GOAL = 2.2

const CASES = [
  {name: 'node -e 0', args: ['-e', '0'], ok: [0]},
  {name: 'check --example --format json', args: [BIN, 'check', '--example', '--format', 'json'], ok: [0, 2]},
  {
    name: 'check live (-t examples/incident/topology.yaml)',
    args: [BIN, 'check', '-t', join(ROOT, 'examples', 'incident', 'topology.yaml')],
    ok: [0, 2],
  },
]

/** One cold process; wall time in ms from spawn to exit. Output goes to /dev/null. */
function once(c) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, c.args, {cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.error || !c.ok.includes(r.status ?? -1)) {
    const why = r.error ? r.error.message : `exit ${r.status}: ${(r.stderr || '').split('\n')[0]}`
    return {ms, error: why}
  }
  return {ms}
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const fmt = (x) => x.toFixed(1).padStart(7)

function main() {
  if (!existsSync(join(ROOT, 'dist'))) {
    console.log('bench/startup: dist/ is missing; run `npm run build` first')
    return
  }
  console.log(`twadvisor start-up: ${N} cold runs of each, alternating; node ${process.version}, ${process.platform}-${process.arch}`)

  // One untimed run of each fills the page cache so the first timed run is not an outlier.
  for (const c of CASES) once(c)

  const times = CASES.map(() => [])
  const errors = new Map()
  for (let i = 0; i < N; i++) {
    CASES.forEach((c, k) => {
      const r = once(c)
      times[k].push(r.ms)
      if (r.error && !errors.has(c.name)) errors.set(c.name, r.error)
    })
  }

  const medians = times.map(median)
  const base = medians[0]
  console.log('')
  console.log('  median ms   min ms   max ms   ratio   command')
  CASES.forEach((c, k) => {
    const ratio = medians[k] / base
    console.log(`  ${fmt(medians[k])}  ${fmt(Math.min(...times[k]))}  ${fmt(Math.max(...times[k]))}   ${ratio.toFixed(2).padStart(5)}   ${c.name}`)
  })
  // Each round's check time over the same round's node time: the median of these is robust to
  // load that shifts during the run.
  const paired = (k) => median(times[k].map((t, i) => t / times[0][i]))
  console.log('')
  for (const [name, why] of errors) console.log(`  warning: "${name}" did not run cleanly (${why}); its time may not mean much`)
  console.log('')

  // The verdict is on the paired ratios (each round's check over the same round's node), not on
  // the ratio of medians: two medians taken from different moments can drift apart with the load.
  const ratio = paired(1)
  const live = paired(2)
  console.log(`check/node paired ratio: ${ratio.toFixed(2)} (target ≤ ${TARGET.toFixed(1)}, goal ≤ ${GOAL.toFixed(1)})`)
  console.log(`check live/node paired ratio: ${live.toFixed(2)} (target ≤ ${TARGET.toFixed(1)}, goal ≤ ${GOAL.toFixed(1)})`)
  const worst = Math.max(ratio, live)
  const verdict = worst <= GOAL ? 'meets the goal' : worst <= TARGET ? 'meets the target, not the goal' : 'ABOVE the target: profile with `node --cpu-prof bin/run.js check --example`'
  console.log(`  ${verdict}`)
}

try {
  main()
} catch (error) {
  console.log(`bench/startup: ${error instanceof Error ? error.message : String(error)}`)
}
process.exitCode = 0
