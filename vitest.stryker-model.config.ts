import base from './vitest.stryker.config.js'

// A cheaper Stryker run for src/model files (stryker.model.config.mjs): the same configuration
// with the model's own tests only (test/model). Fewer tests can only catch fewer mutants, so a
// score measured with it is a lower bound of the full configuration's (vitest.stryker.config.ts,
// which adds the rules, topology and generate tests that also reach the model). A model mutant
// no test kills runs every test that reaches it; with the full set that is most of the 15 s
// suite, with test/model about 3 s.
export default {...base, test: {...base.test, include: ['test/model/**/*.test.ts']}}
