import {resolve} from 'node:path'

import {defineConfig} from 'vitest/config'

// The tests Stryker runs against each mutant (stryker.config.mjs): unit tests that import src/
// and need no root. Tests that run bin/run.js exercise dist/, which a mutant of src/ never
// reaches, and the root-only suites (test/root.ts) are skipped by TW_NO_ROOT.
export default defineConfig({
  resolve: {
    alias: [
      {find: /^(\.\.\/)+generated\/(.*)$/, replacement: resolve('dist/generated/$2')},
      // Every property at most 200 cases, the first 200 of the same fixed-seed sequence: the
      // score can only be lower than with the full runs (test/fast-check-capped.ts).
      {find: /^fast-check$/, replacement: resolve('test/fast-check-capped.ts')},
    ],
  },
  test: {
    include: [
      'test/model/**/*.test.ts',
      'test/rules/**/*.test.ts',
      'test/topology/**/*.test.ts',
      'test/model-command.test.ts',
      // The topology loader's hostile inputs (parseTopology in-process; the other harden files run bin/run.js).
      'test/harden/topology.test.ts',
      // The engine's fast path (a remedy judged on its own flow, shared re-runs) against the
      // definition (every remedy re-runs the whole host), on random topologies: the one test that
      // notices a fast-path mutant whose report differs only for some topologies (a few seconds).
      'test/harden/scale.test.ts',
      // carry spawns processes (generate) for seconds per run: kept out. diff's one property
      // runs patch(1) for about a second; with per-test coverage only diff.ts's mutants pay it.
      // targets (the renderers), write (a scratch directory) and pure (read-back, boot order in
      // a scratch root, carry, header, summary, generate() without --apply) need no root and no
      // process; their mount, chattr and netns halves are root suites, skipped here.
      // apply runs stand-in sysctl and ip binaries from a scratch PATH (no root, no kernel).
      'test/generate/{plan,validate,targets,write,pure,apply,diff}.test.ts',
    ],
    env: {TW_NO_ROOT: '1'},
    // The fixed fast-check seed, as in `npm test`: without it every dry run and every mutant drew
    // new cases, so a mutant's verdict could change between runs (and a random seed found a
    // model counterexample that failed the dry run; see the README's mutation section).
    // test/setup-mutation.ts: a failing property stops at its first counterexample (no shrinking).
    setupFiles: ['./test/setup.ts', './test/setup-mutation.ts'],
    // One worker thread that keeps its modules between runs: a fresh fork per mutant costs
    // seconds of imports, the tests themselves milliseconds.
    pool: 'threads',
    isolate: false,
    fileParallelism: false,
    testTimeout: 60_000,
  },
})
