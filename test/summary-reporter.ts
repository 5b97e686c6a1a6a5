// Counts every test of a run. With TW_TEST_SUMMARY set (scripts/test.mjs, one file per lane) it
// writes the counts and the skipped suites as JSON there for the runner to add up; otherwise
// (a plain `vitest run`) it prints the closing line CI reads, "N passed, N failed, N skipped",
// and the SKIPPED line. A file that fails to load counts as a failure, so a broken suite never
// reads green.
import {writeFileSync} from 'node:fs'
import {relative} from 'node:path'

import type {Reporter, TestModule, TestSuite} from 'vitest/node'

import {SKIP_MARK} from './skip-mark.js'

export interface SkippedSuite {
  file: string
  suite: string
  why: string
  tests: number
}

export interface LaneSummary {
  passed: number
  failed: number
  skipped: number
  skippedSuites: SkippedSuite[]
}

export function skippedLine(suites: SkippedSuite[]): string | null {
  if (suites.length === 0) return null
  const tests = suites.reduce((n, s) => n + s.tests, 0)
  const list = suites.map((s) => `${s.file} "${s.suite}" (${s.why})`).join('; ')
  return `SKIPPED ${suites.length} suite${suites.length === 1 ? '' : 's'} (${tests} tests) that cannot run on this machine: ${list}`
}

function count(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): LaneSummary {
  const sum: LaneSummary = {passed: 0, failed: 0, skipped: 0, skippedSuites: []}
  for (const mod of testModules) {
    const tests = [...mod.children.allTests()]
    // A file that failed outside any test (import error, hook error with no tests) is one failure.
    if (mod.state() === 'failed' && tests.every((t) => t.result().state !== 'failed')) sum.failed++
    for (const t of tests) {
      const state = t.result().state
      if (state === 'passed') sum.passed++
      else if (state === 'failed') sum.failed++
      else sum.skipped++
    }
    const visit = (suite: TestSuite): void => {
      const m = SKIP_MARK.exec(suite.name)
      if (m && suite.state() === 'skipped') {
        sum.skippedSuites.push({
          file: relative(process.cwd(), mod.moduleId),
          suite: suite.name.replace(SKIP_MARK, ''),
          why: m[1] ?? '',
          tests: [...suite.children.allTests()].length,
        })
        return
      }
      for (const child of suite.children.suites()) visit(child)
    }
    for (const suite of mod.children.suites()) visit(suite)
  }
  sum.failed += unhandledErrors.length
  return sum
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const sum = count(testModules, unhandledErrors)
    const out = process.env.TW_TEST_SUMMARY
    if (out) {
      writeFileSync(out, JSON.stringify(sum))
      return
    }
    const skipped = skippedLine(sum.skippedSuites)
    process.stdout.write(`\n${sum.passed} passed, ${sum.failed} failed, ${sum.skipped} skipped\n${skipped ? `${skipped}\n` : ''}`)
  }
}
