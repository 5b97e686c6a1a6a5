import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {unifiedDiff} from '../../src/generate/diff.js'
import {scratchDir} from './helpers.js'

/** Applies a diff with the real `patch` and returns the result: the diff must be one patch reads. */
function patched(oldText: string, diff: string): string {
  const {dir, cleanup} = scratchDir('twdiff-')
  try {
    const file = join(dir, 'f')
    writeFileSync(file, oldText)
    if (diff !== '') execFileSync('patch', ['--quiet', '--force', file], {input: diff})
    return readFileSync(file, 'utf8')
  } finally {
    cleanup()
  }
}

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n')).toBe('')
  })

  it('prints hunks with 3 lines of context the way diff -u does', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'].join('\n') + '\n'
    const b = ['1', '2', '3', '4', 'five', '6', '7', '8', '9', '10', '11'].join('\n') + '\n'
    expect(unifiedDiff(a, b, {oldLabel: 'old', newLabel: 'new'})).toBe(
      ['--- old', '+++ new', '@@ -2,9 +2,10 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ' 9', ' 10', '+11', ''].join('\n'),
    )
  })

  it('diffs against a missing file (all lines added) and marks a missing final newline', () => {
    // jsdiff writes a one-line side as "1,1" where GNU diff writes "1": patch reads both.
    expect(unifiedDiff('', 'x\n', {oldLabel: '/dev/null', newLabel: 'f'})).toBe('--- /dev/null\n+++ f\n@@ -0,0 +1,1 @@\n+x\n')
    expect(unifiedDiff('x', 'x\n')).toBe('--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n')
  })

  it('always produces a patch that turns the old text into the new one (checked with patch(1))', () => {
    const line = fc.constantFrom('a', 'b', 'c', 'net.ipv4.tcp_tw_reuse = 1', '# comment', '')
    const text = fc.tuple(fc.array(line, {maxLength: 25}), fc.boolean()).map(([ls, eol]) => (ls.length === 0 ? '' : ls.join('\n') + (eol ? '\n' : '')))
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(patched(a, unifiedDiff(a, b))).toBe(b)
      }),
      {numRuns: 60},
    )
  })
})
