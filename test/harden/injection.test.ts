// Issue 11, item 1: config injection. A label or path copied into a generated file's header must
// never become a live setting in any target, and the wizard refuses such a label.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {renderContext, type RenderContext} from '../../src/generate/header.js'
import {planFromReport, type Plan} from '../../src/generate/plan.js'
import {parseSysctlConf} from '../../src/generate/boot.js'
import {TARGETS, type TargetName} from '../../src/generate/targets/index.js'

const TARGET_NAMES = Object.keys(TARGETS) as TargetName[]
import {verifyRendered, UNSAFE_TAG} from '../../src/generate/verify.js'
import {askTopology} from '../../src/wizard/flow.js'
import {summarizeHost} from '../../src/wizard/host.js'
import {incidentReport, ROOT} from '../generate/helpers.js'
import {fixtureFacts, scripted} from '../wizard/helpers.js'

const EVIL = 'x\nkernel.core_pattern = |/tmp/evil %p\n#'
/** Every line break some reader honours, and terminal controls. */
const BREAKS = ['\n', '\r', '\r\n', '\v', '\f', '\u0085', '\u2028', '\u2029', '\u001b]0;pwned\u0007']

function hostileContext(plan: Plan, brk: string): RenderContext {
  const base = renderContext(plan, '/t.yaml', '9.9.9')
  const evil = EVIL.replaceAll('\n', brk)
  return {...base, host: evil, topology: `/tmp/a${brk}kernel.core_pattern = |/x${brk}.yaml`, sysctls: `dump${brk}kernel.core_pattern=|/y`, kernel: `6.1${brk}kernel.core_pattern=|/z`}
}

/** The keys a target's consumer would set, read with an independent parser per target. */
function consumerKeys(target: TargetName, text: string): string[] {
  if (target === 'sysctl.d') return parseSysctlConf(text, 'f').map((s) => s.key)
  if (target === 'tuned') {
    const keys: string[] = []
    let section = ''
    for (const raw of text.split(/\r\n|[\n\r]/)) {
      const l = raw.trim()
      if (l.startsWith('[')) section = l
      else if (section === '[sysctl]' && l.includes('=') && !l.startsWith('#')) keys.push(l.slice(0, l.indexOf('=')))
    }
    return keys
  }
  const data = parse(text, {customTags: [UNSAFE_TAG]}) as Record<string, unknown>
  const list = target === 'ansible' ? (data.twadvisor_sysctls as {name: string}[]) : ((data.securityContext as {sysctls: {name: string}[]}).sysctls)
  return list.map((x) => x.name)
}

describe('generated files: no input can leave a comment', () => {
  const plan = planFromReport(incidentReport())
  for (const target of TARGET_NAMES) {
    for (const brk of BREAKS) {
      it(`${target}: a label, paths and kernel string holding ${JSON.stringify(brk)} stay inside the header comment`, () => {
        const text = TARGETS[target].render(plan, hostileContext(plan, brk))
        expect(text).not.toMatch(/^\s*kernel\.core_pattern/m)
        expect(text).not.toMatch(/[\u0085\u2028\u2029\u000b\u000c\u001b\u0007\r]/)
        expect(consumerKeys(target, text)).not.toContain('kernel.core_pattern')
        expect(() => verifyRendered(target, text, plan)).not.toThrow()
      })
    }
  }

  it('the parse-back refuses a rendered text with a key the plan does not hold, in every target', () => {
    const injected: Record<TargetName, (t: string) => string> = {
      'sysctl.d': (t) => `${t}kernel.core_pattern = |/tmp/evil\n`,
      tuned: (t) => `${t}kernel.core_pattern=|/tmp/evil\n`,
      ansible: (t) => `${t}  - name: kernel.core_pattern\n    value: "|/tmp/evil"\n`,
      k8s: (t) => t.replace('  sysctls:\n', '  sysctls:\n    - name: kernel.core_pattern\n      value: "|/tmp/evil"\n'),
    }
    for (const target of TARGET_NAMES) {
      const text = injected[target](TARGETS[target].render(plan, renderContext(plan, '/t.yaml', '9.9.9')))
      expect(() => verifyRendered(target, text, plan), target).toThrow(/kernel\.core_pattern/)
    }
  })
})

describe('twadvisor generate with a hostile host: label', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinj-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  for (const target of TARGET_NAMES) {
    it(`--target ${target}: refused at load with one line naming file:line:col and the field; nothing written`, () => {
      const topo = join(dir, 'topology.yaml')
      writeFileSync(topo, `host: ${JSON.stringify(EVIL)}\nflows:\n  - name: a\n    role: client\n    peer: 10.0.1.10:80\n    qps: 600\n    closes_first: client\n`)
      const out = join(dir, 'out.conf')
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'generate', '-t', topo, '-s', join(ROOT, 'test', 'fixtures', 'sysctl-6.18.44.txt'), '--target', target, '-o', out], {encoding: 'utf8', timeout: 30_000})
      expect(r.status).toBe(1)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toContain(`${topo}:1:7: host: must be a host name or short label`)
      expect(r.stderr).not.toContain('core_pattern')
      expect(existsSync(out)).toBe(false)
    })
  }
})

describe('the wizard', () => {
  it('refuses a host label with a line break (and a dump hostname that is not a label is not offered)', async () => {
    const facts = fixtureFacts({'kernel.hostname': 'a\nkernel.core_pattern=|/x'})
    const prompts = scripted({symptom: 'eaddrnotavail', host: [EVIL, 'php-01'], 'flows.0.peer': '10.0.2.20:11211', 'flows.0.qps': '600'})
    const out = await askTopology({prompts, print: () => undefined}, {facts}, summarizeHost(facts))
    expect(out.topology.host).toBe('php-01')
    expect(prompts.refused.map((x) => x.id)).toEqual(['host'])
    expect(prompts.asked.find((a) => a.id === 'host')?.default).toBe('localhost')
  })
})
