import {resolve} from 'node:path'

import {defineConfig} from 'vitest/config'

export default defineConfig({
  resolve: {
    // Validators are generated at build time into dist/generated (scripts/postbuild.js);
    // tests that import src/ use those. `npm test` builds first.
    alias: [{find: /^(\.\.\/)+generated\/(.*)$/, replacement: resolve('dist/generated/$2')}],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Lab and namespace tests share the kernel's netns list: files run one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
