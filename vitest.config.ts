import {resolve} from 'node:path'

import {defineConfig} from 'vitest/config'

// Three lanes, each its own vitest process under scripts/test.mjs (`npm test`), side by side:
// one vitest process runs these files one at a time, and the kernel measurements (lab, uml) are
// long, so they must not queue behind each other or behind the rest.
// The Ansible playbook test (minutes of ssh logins) rides in the lab lane, which is otherwise
// done in a few minutes, so the rest lane is not the long pole.
const LAB = ['test/lab/**/*.test.ts', 'test/fleet/ansible.test.ts']
const UML = ['test/uml/**/*.test.ts']

export default defineConfig({
  resolve: {
    // Validators are generated at build time into dist/generated (scripts/postbuild.js);
    // tests that import src/ use those. `npm test` builds first.
    alias: [{find: /^(\.\.\/)+generated\/(.*)$/, replacement: resolve('dist/generated/$2')}],
  },
  test: {
    // Within a lane, files run one at a time: lab and namespace tests share the kernel's netns
    // list, and the machine has 2 CPUs for three lanes.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
    setupFiles: ['./test/setup.ts'],
    projects: [
      {extends: true, test: {name: 'lab', include: LAB}},
      {extends: true, test: {name: 'uml', include: UML}},
      {extends: true, test: {name: 'rest', include: ['test/**/*.test.ts'], exclude: [...LAB, ...UML, '**/node_modules/**']}},
    ],
  },
})
