/// <reference types="vite/client" />
// Mutation runs only (vitest.stryker.config.ts, after test/setup.ts): a property that fails stops
// at its first counterexample instead of shrinking it. The verdict is the same (a property fails
// exactly when a counterexample is found); only the search for the smallest one, which a
// mutant's report never shows, is skipped. Shrinking is most of the time a killed model mutant
// spends in the fast-check properties.
import fc from 'fast-check'

fc.configureGlobal({...fc.readConfigureGlobal(), endOnFailure: true})

// Every module Stryker mutates is loaded here, outside any test. A module's top-level code (a
// table, the CEL environment with its functions) runs once, when the module is first imported;
// imported first inside a test (a dynamic import in generate(), say), Stryker would credit that
// code to that test alone and switch its mutants on while the module is already loaded, so they
// could never take effect and would "survive" (the CEL functions did). Loaded here, that code
// counts as static: Stryker reloads the modules and runs every test for each of its mutants.
import.meta.glob(['../src/{model,rules,generate,topology}/**/*.ts', '!**/*.d.ts'], {eager: true})
