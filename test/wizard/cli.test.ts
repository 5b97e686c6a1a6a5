// The built command without a terminal: it refuses to ask, --answers replays, and what it
// prints and saves is what `check` prints and loads. Runs bin/run.js on the built tree.
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {FIXTURE, ROOT, scratchDir} from './helpers.js'

const RUN = join(ROOT, 'bin', 'run.js')

function cli(...args: string[]): {code: number; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, [RUN, ...args], {encoding: 'utf8', cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}})
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

let dir: string
let cleanup: () => void
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'cli-entry.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before these tests')
})
beforeEach(() => ({dir, cleanup} = scratchDir('twwizcli-')))
afterEach(() => cleanup())

const ANSWERS = `symptom: resets
host: php-01
flows:
  - role: server
    peer: 10.0.1.10:80
    name: api-to-php
    qps: 600
    senders: 8
  - role: client
    peer: 10.0.2.20:11211
    name: php-to-cache
    qps: 600
    closes_first: client
`

describe('twadvisor wizard without a terminal', () => {
  it('refuses with exit 1 and points to check and --answers', () => {
    const r = cli('wizard', '--sysctl-file', FIXTURE)
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('needs a terminal')
    expect(r.stderr).toContain('twadvisor check -t FILE')
    expect(r.stderr).toContain('--answers FILE')
  })

  it('--answers replays: the findings are the ones check prints for the saved topology, and the files are written', () => {
    const answers = join(dir, 'answers.yaml')
    writeFileSync(answers, ANSWERS)
    const topo = join(dir, 'topology.yaml')
    const conf = join(dir, '60-twadvisor.conf')
    const r = cli('wizard', '--answers', answers, '--sysctl-file', FIXTURE, '--output-topology', topo, '--output-sysctl', conf)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(2)
    expect(r.stdout).toContain(`wrote ${topo} (topology)`)
    expect(r.stdout).toContain(`wrote ${conf} (sysctl.d, 2 keys)`)
    const check = cli('check', '-t', topo, '--sysctl-file', FIXTURE)
    expect(check.code).toBe(2)
    expect(r.stdout).toContain(check.stdout.trimEnd())
  })

  it('--answers without --output-* or file answers writes nothing', () => {
    const answers = join(dir, 'answers.yaml')
    writeFileSync(answers, ANSWERS)
    const r = spawnSync(process.execPath, [RUN, 'wizard', '--answers', answers, '--sysctl-file', FIXTURE], {encoding: 'utf8', cwd: dir})
    expect(r.status).toBe(2)
    expect(readdirSync(dir)).toEqual(['answers.yaml'])
  })

  it('a refused answer is one line with file:line, exit 1, nothing written', () => {
    const answers = join(dir, 'answers.yaml')
    writeFileSync(answers, ANSWERS.replace('qps: 600\n    senders', 'qps: -1\n    senders'))
    const r = cli('wizard', '--answers', answers, '--sysctl-file', FIXTURE, '--output-topology', join(dir, 't.yaml'))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`^twadvisor: error: ${answers}:7:\\d+: flows\\.0\\.qps: must be above 0`))
    expect(readdirSync(dir)).toEqual(['answers.yaml'])
  })
})
