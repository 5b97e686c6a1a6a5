// Mutation testing (`npm run mutation`, not part of CI): Stryker changes one thing at a time in
// the pure core (model, rules, generate, topology) and runs the non-root unit tests against each
// change; a change no test notices is a test that does not bite. Concurrency 1: the machines this
// runs on are shared. The score per folder is in the README, with the equivalent survivors.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: {configFile: 'vitest.stryker.config.ts', related: false},
  mutate: ['src/model/**/*.ts', 'src/rules/**/*.ts', 'src/generate/**/*.ts', 'src/topology/**/*.ts', '!src/**/*.d.ts'],
  // Strings are messages and hints (their wording is not behaviour the tests should pin) and
  // regular expressions are covered by the loaders' own tests: leaving both out halves the run.
  mutator: {excludedMutations: ['StringLiteral', 'Regex']},
  coverageAnalysis: 'perTest',
  concurrency: 1,
  timeoutMS: 30_000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: {fileName: 'reports/mutation/mutation.json'},
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['reports', '.stryker-tmp', 'test/lab', 'test/uml', 'test/fleet'],
  thresholds: {high: 85, low: 70, break: null},
}
