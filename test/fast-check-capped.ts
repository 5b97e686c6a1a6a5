// Mutation runs only (vitest.stryker.config.ts aliases `fast-check` here): every property runs
// at most MUTATION_MAX_RUNS cases. With the fixed seed (test/setup.ts) fast-check draws the same
// cases in the same order whatever numRuns is (numRuns only says how many of them to take;
// checked: the 500 cases of a 500-run property are the first 500 of a 5,000-run one), so the
// cases a property runs here are the first of those `npm test` runs: a mutant killed here is
// killed by `npm test`, and the measured score can only be lower than with the full runs, never
// higher. A mutant no test kills runs every test that reaches it to the end, and nearly every
// model mutant is reached by the model and engine properties (test/model/properties,
// host-under, test/harden/scale: about 9 s of the 15 s the Stryker set takes).
import * as real from '../node_modules/fast-check/lib/fast-check.js'

export * from '../node_modules/fast-check/lib/fast-check.js'

export const MUTATION_MAX_RUNS = 200

export const assert: typeof real.assert = ((property: Parameters<typeof real.assert>[0], params?: Parameters<typeof real.assert>[1]) =>
  real.assert(property, params?.numRuns === undefined ? params : {...params, numRuns: Math.min(params.numRuns, MUTATION_MAX_RUNS)})) as typeof real.assert

export default {...real, assert}
