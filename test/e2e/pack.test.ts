// Installed the way people install a CLI: `npm pack` on a tree with no dist/ (as a fresh clone
// has), `npm install -g` of that tarball into an empty prefix, and the installed `twadvisor` run
// from a folder outside the checkout. Catches a missing `prepack` build, a file left out of
// `files`, and a runtime import of a dev dependency.
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
// What the build and the package need from the checkout; dist/ deliberately absent.
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'bin', 'src', 'rules', 'schema', 'examples', 'scripts']

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): {code: number; stdout: string; stderr: string} {
  const r = spawnSync(cmd, args, {cwd, encoding: 'utf8', timeout: 150_000, env: {...process.env, ...env}})
  if (r.error) throw r.error
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

describe('npm pack + npm install -g of the tarball gives a working twadvisor', () => {
  let tmp: string
  let bin: string
  let workdir: string

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tw-pack-'))
    const src = join(tmp, 'src')
    for (const p of SOURCES) cpSync(join(ROOT, p), join(src, p), {recursive: true})
    // The build tools (tsc, esbuild, ajv) come from this checkout's install.
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir')
    const npmEnv = {npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false'}
    const pack = run('npm', ['pack', '--pack-destination', tmp], src, npmEnv)
    expect(pack.code, pack.stderr).toBe(0)
    const tarball = readdirSync(tmp).find((n) => n.endsWith('.tgz'))
    expect(tarball, pack.stdout).toBeDefined()
    // The tarball's own dependencies come from npm's cache, filled by `npm ci` (the registry only if absent).
    const prefix = join(tmp, 'prefix')
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', join(tmp, tarball!)], tmp, npmEnv)
    expect(install.code, install.stderr).toBe(0)
    bin = join(prefix, 'bin', 'twadvisor')
    workdir = mkdtempSync(join(tmp, 'cwd-'))
  }, 300_000)

  afterAll(() => {
    if (tmp) rmSync(tmp, {recursive: true, force: true})
  })

  it('the tarball was built by prepack: the installed package has dist/', () => {
    expect(existsSync(bin)).toBe(true)
    expect(existsSync(join(tmp, 'prefix', 'lib', 'node_modules', 'twadvisor', 'dist', 'bundle', 'cli-entry.js'))).toBe(true)
  })

  it('twadvisor --version prints the package version', () => {
    const r = run(bin, ['--version'], workdir)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^twadvisor\/0\.1\.0 /)
  })

  it('twadvisor check --example runs from outside the checkout: the incident’s findings, exit 2', () => {
    const r = run(bin, ['check', '--example', '--format', 'json'], workdir)
    expect(r.code, r.stderr).toBe(2)
    const report = JSON.parse(r.stdout) as {hosts: {findings: {id: string}[]}[]}
    expect(report.hosts[0]!.findings.map((f) => f.id)).toContain('client-port-exhaustion')
  })
})
