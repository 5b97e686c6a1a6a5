/**
 * Suites that need something only some machines have (root for network namespaces and mounts,
 * sshd and ansible-playbook for the role's test). Without it they are skipped at collection, so
 * their hooks never run, and their name carries the reason, which the summary reporter collects
 * into the one SKIPPED line `npm test` prints. In CI (CI=true) the machine is built to run them
 * all (.ci/run installs the tools and runs as root), so a suite that cannot run there is a
 * failure, never a quiet skip.
 */
import {describe, it} from 'vitest'

import {SKIP_MARK} from './skip-mark.js'

export {SKIP_MARK}

/** Root, unless TW_NO_ROOT=1 asks for a non-root run (mutation testing runs the non-root tests only). */
export const isRoot = process.getuid?.() === 0 && process.env.TW_NO_ROOT !== '1'

export interface Can {
  ok: boolean
  /** Why not, when !ok: "needs root (network namespaces)". */
  why: string
}

export function inCI(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1'
}

/** A describe block that runs when `can.ok`, is skipped with its reason otherwise, and fails in CI. */
export function suiteIf(can: Can, name: string, fn: () => void): void {
  if (can.ok) {
    describe(name, fn)
  } else if (inCI()) {
    describe(name, () => {
      it('can run on this machine (CI=true requires every suite)', () => {
        throw new Error(`${can.why}; CI=true requires this suite to run`)
      })
    })
  } else {
    describe.skip(`${name} [skipped: ${can.why}]`, fn)
  }
}

/** A suite that needs root; `what` says what for (namespaces, mounts...). */
export function rootSuite(name: string, what: string, fn: () => void): void {
  suiteIf({ok: isRoot, why: `needs root (${what})`}, name, fn)
}
