// Mutation runs only (vitest.stryker.config.ts, after test/setup.ts): a property that fails stops
// at its first counterexample instead of shrinking it. The verdict is the same (a property fails
// exactly when a counterexample is found); only the search for the smallest one, which a
// mutant's report never shows, is skipped. Shrinking is most of the time a killed model mutant
// spends in the fast-check properties.
import fc from 'fast-check'

fc.configureGlobal({...fc.readConfigureGlobal(), endOnFailure: true})
