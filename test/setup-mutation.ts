/// <reference types="vite/client" />
// Mutation runs only (vitest.stryker.config.ts, after test/setup.ts): a property that fails stops
// at its first counterexample instead of shrinking it. The verdict is the same (a property fails
// exactly when a counterexample is found); only the search for the smallest one, which a
// mutant's report never shows, is skipped. Shrinking is most of the time a killed model mutant
// spends in the fast-check properties.
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'

fc.configureGlobal({...fc.readConfigureGlobal(), endOnFailure: true})

// Every module Stryker mutates is loaded here, outside any test. A module's top-level code (a
// table, the CEL environment with its functions) runs once, when the module is first imported;
// imported first inside a test (a dynamic import in generate(), say), Stryker would credit that
// code to that test alone and switch its mutants on while the module is already loaded, so they
// could never take effect and would "survive" (the CEL functions did). Loaded here, that code
// counts as static: Stryker reloads the modules and runs every test for each of its mutants.
import.meta.glob(['../src/{model,rules,generate,topology}/**/*.ts', '!**/*.d.ts'], {eager: true})

// No mutant may reach the kernel. Stryker runs as whatever user starts it, often root, and a
// mutant such as `if (req.apply)` to `if (true)` in src/generate/run.ts makes an ordinary
// generate() test run the real `sysctl -p` on its scratch file: one run loaded the incident plan
// (ip_local_port_range 10000 65535, tcp_max_tw_buckets 5000) into the machine's own namespace.
// Here `sysctl` and `ip` on PATH are stand-ins that refuse; tests that need them put their own
// stand-ins first (test/generate/apply.test.ts).
const guard = join(tmpdir(), `tw-mutation-guard-${process.pid}`)
if (!(process.env.PATH ?? '').startsWith(`${guard}:`)) {
  mkdirSync(guard, {recursive: true})
  for (const name of ['sysctl', 'ip']) {
    writeFileSync(join(guard, name), `#!/bin/sh\necho "${name}: refused during mutation testing" >&2\nexit 1\n`)
    chmodSync(join(guard, name), 0o755)
  }
  process.env.PATH = `${guard}:${process.env.PATH ?? ''}`
}
