#!/usr/bin/env node
// `npm test` (after the build): the suite in three vitest processes side by side, one per lane of
// vitest.config.ts — lab (namespace measurements on this kernel), uml (measurements inside
// user-mode Linux) and rest — because one vitest process runs its files one at a time and the
// kernel measurements are long. Each lane writes its counts to a JSON file (TW_TEST_SUMMARY, see
// test/summary-reporter.ts); this script prints every lane's output with the lane's name in
// front, then ONE summary line for the whole suite and one SKIPPED line naming the suites that
// could not run here (root-only ones without root) and why.
// Exit 0 only when nothing failed. With CI=true a suite that cannot run fails (test/root.ts).
// `npm test -- <files or vitest args>` is a plain `vitest run <args>` instead.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const require = createRequire(import.meta.url)
const VITEST = join(require.resolve('vitest/package.json'), '..', 'vitest.mjs')
const LANES = ['lab', 'uml', 'rest']
// Each lane is held to this wall time (CI's budget is 20 minutes for everything, apt and npm ci
// included): a lane past it is killed with its process group and counts as a failure.
const LANE_LIMIT_MS = Number(process.env.TW_LANE_LIMIT_MS ?? 15 * 60_000)

const args = process.argv.slice(2)
if (args.length > 0) {
  const child = spawn(process.execPath, [VITEST, 'run', ...args], {stdio: 'inherit'})
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
} else {
  runLanes().then((code) => process.exit(code))
}

function prefixed(stream, name, sink) {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) sink.write(`${name} | ${line}\n`)
  })
  stream.on('end', () => {
    if (rest) sink.write(`${name} | ${rest}\n`)
  })
}

async function runLanes() {
  const dir = mkdtempSync(join(tmpdir(), 'tw-test-'))
  const started = Date.now()
  const children = new Set()
  const stop = (signal) => {
    for (const c of children) killGroup(c)
    rmSync(dir, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)

  const lane = (name) =>
    new Promise((done) => {
      const file = join(dir, `${name}.json`)
      const child = spawn(process.execPath, [VITEST, 'run', '--project', name, '--passWithNoTests'], {
        env: {...process.env, TW_TEST_SUMMARY: file},
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a lane past its time goes with every process it started.
        detached: true,
      })
      children.add(child)
      prefixed(child.stdout, name.padEnd(4), process.stdout)
      prefixed(child.stderr, name.padEnd(4), process.stderr)
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        killGroup(child)
      }, LANE_LIMIT_MS)
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        children.delete(child)
        let sum = null
        try {
          sum = JSON.parse(readFileSync(file, 'utf8'))
        } catch {
          // No summary: the lane died before its reporter ran. Counted below as a failure.
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(0)
        let problem = null
        if (timedOut) problem = `killed after ${LANE_LIMIT_MS / 1000} s`
        else if (!sum) problem = `ended (${signal ?? `exit ${code}`}) without a summary`
        else if (code !== 0 && sum.failed === 0) problem = `exit ${code} with no failed test (a load or config error: see its output)`
        process.stdout.write(`${name.padEnd(4)} | lane done in ${seconds} s${problem ? `: ${problem}` : ''}\n`)
        done({name, sum: sum ?? {passed: 0, failed: 0, skipped: 0, skippedSuites: []}, extraFailures: problem ? 1 : 0})
      })
    })

  const results = await Promise.all(LANES.map(lane))
  rmSync(dir, {recursive: true, force: true})
  const total = {passed: 0, failed: 0, skipped: 0, skippedSuites: []}
  for (const r of results) {
    total.passed += r.sum.passed
    total.failed += r.sum.failed + r.extraFailures
    total.skipped += r.sum.skipped
    total.skippedSuites.push(...r.sum.skippedSuites)
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  const perLane = results.map((r) => `${r.name} ${r.sum.passed}/${r.sum.failed + r.extraFailures}/${r.sum.skipped}`).join(', ')
  process.stdout.write(`\nlanes (passed/failed/skipped): ${perLane}; ${seconds} s wall\n`)
  if (total.skippedSuites.length > 0) {
    const tests = total.skippedSuites.reduce((n, s) => n + s.tests, 0)
    const list = total.skippedSuites.map((s) => `${s.file} "${s.suite}" (${s.why})`).join('; ')
    process.stdout.write(`SKIPPED ${total.skippedSuites.length} suite(s), ${tests} tests, that cannot run on this machine: ${list}\n`)
  }
  process.stdout.write(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`)
  return total.failed === 0 ? 0 : 1
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}
