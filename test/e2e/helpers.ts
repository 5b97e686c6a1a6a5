import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {join, resolve} from 'node:path'

/** The package root: the built CLI runs from here, as a user's `npx twadvisor` would. */
export const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')
export const EXAMPLE_TOPOLOGY = join(ROOT, 'examples', 'incident', 'topology.yaml')
export const EXAMPLE_SYSCTL = join(ROOT, 'examples', 'incident', 'sysctl.txt')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run the BUILT binary in a fresh process: `node bin/run.js ...args` (no shell). */
export function run(args: string[], opts: {input?: string; env?: Record<string, string>} = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 30_000,
    // No colours, whatever the terminal the tests were started from.
    env: {...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env},
  })
  if (r.error) throw r.error
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** Fail early with a clear message when the build is missing (tests run the built CLI). */
export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist'))) throw new Error('dist/ is missing: run `npm run build` before the e2e tests')
}

/** Every command the CLI ships: one file per command in src/commands (index.ts is the list). */
export function commandNames(): string[] {
  return readdirSync(join(ROOT, 'src', 'commands'))
    .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
    .map((f) => f.replace(/\.ts$/, ''))
    .sort()
}

/** The JSON shape `check --format json` promises (README "JSON output"). */
export interface JsonReport {
  hosts: {
    host: string
    kernel: string | null
    source?: string
    findings: {
      id: string
      severity: 'info' | 'warning' | 'critical'
      title: string
      flow?: string
      message: string
      evidence: Record<string, unknown>
      remedies: {why: string; after: Record<string, unknown>; sysctl?: Record<string, string>; action?: string}[]
      waived?: {reason: string}
    }[]
  }[]
  summary: {critical: number; warning: number; info: number}
}
