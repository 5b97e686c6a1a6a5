import {resolve} from 'node:path'

import {defineConfig} from 'vitest/config'

// The tests Stryker runs against each mutant (stryker.config.mjs): unit tests that import src/
// and need no root. Tests that run bin/run.js exercise dist/, which a mutant of src/ never
// reaches, and the root-only suites (test/root.ts) are skipped by TW_NO_ROOT.
export default defineConfig({
  resolve: {
    alias: [{find: /^(\.\.\/)+generated\/(.*)$/, replacement: resolve('dist/generated/$2')}],
  },
  test: {
    include: [
      'test/model/**/*.test.ts',
      'test/rules/**/*.test.ts',
      'test/topology/**/*.test.ts',
      'test/model-command.test.ts',
      'test/generate/{carry,diff,plan,validate}.test.ts',
    ],
    env: {TW_NO_ROOT: '1'},
    testTimeout: 60_000,
  },
})
