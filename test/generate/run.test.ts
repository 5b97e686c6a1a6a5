import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {bootFiles, bootSettings, searchPathName} from '../../src/generate/boot.js'
import {generate, type GenerateRequest} from '../../src/generate/run.js'
import {finding, fixtureFacts, incidentReport, loadInNetns, nsSysctl, remedy, report, ROOT, scratchDir, withNetns, refusal, assertGeneratedFilesLoad} from './helpers.js'
import {rootSuite} from '../root.js'

const TOPOLOGY = join(ROOT, 'examples', 'incident', 'topology.yaml')
const KEYS = ['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_max_tw_buckets']

rootSuite('generate (library) into scratch network namespaces', 'sysctl -p in network namespaces, mounts', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => ({dir, cleanup} = scratchDir('twrun-')))
  afterEach(async () => {
    try {
      await assertGeneratedFilesLoad(dir)
    } finally {
      cleanup()
    }
  })

  function req(extra: Partial<GenerateRequest> = {}): GenerateRequest {
    return {report: incidentReport(), facts: fixtureFacts(), topologyFile: TOPOLOGY, target: 'sysctl.d', ...extra}
  }


  describe('generate (library)', () => {
    it('prints to stdout by default and touches nothing', async () => {
      const r = await generate(req())
      expect(r.output).toBeUndefined()
      expect(r.exitCode).toBe(0)
      await expect(loadInNetns(r.text, KEYS)).resolves.toEqual({'net.ipv4.ip_local_port_range': '10000 65535', 'net.ipv4.tcp_max_tw_buckets': '5000'})
    })

    it('is idempotent: generating twice gives byte-identical files, and --check after writing exits 0', async () => {
      const output = join(dir, '60-twadvisor.conf')
      const first = await generate(req({output}))
      const bytes = readFileSync(output)
      const second = await generate(req({output}))
      expect(first.write?.changed).toBe(true)
      expect(second.write?.changed).toBe(false)
      expect(readFileSync(output).equals(bytes)).toBe(true)
      expect((await generate(req({output, check: true}))).exitCode).toBe(0)
      await expect(loadInNetns(bytes.toString('utf8'), KEYS)).resolves.toEqual({'net.ipv4.ip_local_port_range': '10000 65535', 'net.ipv4.tcp_max_tw_buckets': '5000'})
    })

    it('--check exits 2 when the file would change (or is missing) and writes nothing; --diff shows the change', async () => {
      const output = join(dir, '60-twadvisor.conf')
      expect((await generate(req({output, check: true}))).exitCode).toBe(2)
      await generate(req({output}))
      const edited = readFileSync(output, 'utf8').replace('= 5000', '= 6000')
      writeFileSync(output, edited)
      const r = await generate(req({output, check: true, diff: true}))
      expect(r.exitCode).toBe(2)
      expect(r.diff).toContain('\n-net.ipv4.tcp_max_tw_buckets = 6000\n+net.ipv4.tcp_max_tw_buckets = 5000\n')
      expect(readFileSync(output, 'utf8')).toBe(edited)
    })

    it('refuses an unknown key before writing, naming it, the existing file byte-identical', async () => {
      const output = join(dir, '60-twadvisor.conf')
      await generate(req({output}))
      const bytes = readFileSync(output)
      const bad = report([finding('old-recycle', [remedy({sysctl: {'net.ipv4.tcp_tw_recycle': '0'}, why: 'gone in 4.12'})])])
      const e = await refusal(generate(req({report: bad, output})))
      expect(e.oneLine()).toContain('net.ipv4.tcp_tw_recycle: kernel 6.18.44-fc-v669 has no such sysctl')
      expect(readFileSync(output).equals(bytes)).toBe(true)
    })

    it('--diff, --check and --apply need --output; --apply only loads sysctl.d files', async () => {
      for (const flag of ['diff', 'check', 'apply'] as const) expect((await refusal(generate(req({[flag]: true})))).code).toBe('generate.output')
      expect((await refusal(generate(req({apply: true, target: 'k8s', output: join(dir, 'x')})))).code).toBe('generate.apply-target')
    })
  })

  describe('--apply inside a scratch network namespace', () => {
    it('loads the file with sysctl -p, reports each key, and says which file wins at boot', async () => {
      const root = join(dir, 'root')
      for (const d of ['etc/sysctl.d', 'usr/lib/sysctl.d']) mkdirSync(join(root, d), {recursive: true})
      writeFileSync(join(root, 'usr/lib/sysctl.d/50-default.conf'), 'net.ipv4.ip_local_port_range = 32768 60999\n')
      writeFileSync(join(root, 'etc/sysctl.d/99-ops.conf'), '# ops\nnet.ipv4.tcp_max_tw_buckets = 9999\n')
      const output = join(root, 'etc/sysctl.d/60-twadvisor.conf')
      await withNetns(async (ns) => {
        const r = await generate(req({output, apply: true, netns: ns, bootRoot: root}))
        expect(r.apply?.keys).toEqual([
          {key: 'net.ipv4.ip_local_port_range', wanted: '10000 65535', now: '10000 65535', ok: true},
          {key: 'net.ipv4.tcp_max_tw_buckets', wanted: '5000', now: '5000', ok: true},
        ])
        expect(nsSysctl(ns, 'net.ipv4.tcp_max_tw_buckets')).toBe('5000')
        expect(r.bootName).toBe('/etc/sysctl.d/60-twadvisor.conf')
        const [range, buckets] = r.boot!
        expect(range!.winner).toMatchObject({file: '/etc/sysctl.d/60-twadvisor.conf', value: '10000 65535'})
        expect(range!.setters.map((s) => s.file)).toEqual(['/usr/lib/sysctl.d/50-default.conf', '/etc/sysctl.d/60-twadvisor.conf'])
        expect(buckets!.winner).toMatchObject({file: '/etc/sysctl.d/99-ops.conf', line: 2, value: '9999'})
      })
    })

    it('reports a key the kernel rejects at load time with sysctl\'s reason', async () => {
      const output = join(dir, '60-twadvisor.conf')
      await withNetns(async (ns) => {
        // The namespace's own privileged-port limit is above the new range's low end: EINVAL.
        execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-w', 'net.ipv4.ip_unprivileged_port_start=20000'])
        const r = await generate(req({output, apply: true, netns: ns, bootRoot: join(dir, 'none')}))
        const range = r.apply!.keys.find((k) => k.key === 'net.ipv4.ip_local_port_range')!
        expect(range.ok).toBe(false)
        expect(range.now).toBe('32768 60999')
        expect(range.error).toMatch(/Invalid argument/)
        expect(r.apply!.keys.find((k) => k.key === 'net.ipv4.tcp_max_tw_buckets')!.ok).toBe(true)
        expect(r.bootName).toBeNull()
      })
    })
  })

  describe('systemd-sysctl boot order', () => {
    it('masks a name by the earlier directory, sorts by file name across directories, reads /etc/sysctl.conf last once', async () => {
      const root = join(dir, 'root')
      for (const d of ['etc/sysctl.d', 'run/sysctl.d', 'usr/local/lib/sysctl.d', 'usr/lib/sysctl.d']) mkdirSync(join(root, d), {recursive: true})
      writeFileSync(join(root, 'usr/lib/sysctl.d/10-a.conf'), 'net.ipv4.tcp_fin_timeout = 10\n')
      writeFileSync(join(root, 'etc/sysctl.d/10-a.conf'), 'net.ipv4.tcp_fin_timeout = 11\n') // masks the /usr/lib one
      writeFileSync(join(root, 'run/sysctl.d/20-b.conf'), '-net.ipv4.tcp_fin_timeout=20\n')
      writeFileSync(join(root, 'usr/local/lib/sysctl.d/30-c.conf'), 'net.ipv4.conf.*.rp_filter = 2\n')
      writeFileSync(join(root, 'usr/lib/sysctl.d/README'), 'net.ipv4.tcp_fin_timeout = 99\n') // not *.conf
      writeFileSync(join(root, 'etc/sysctl.conf'), 'net.ipv4.tcp_fin_timeout = 40\n')
      symlinkSync('../sysctl.conf', join(root, 'etc/sysctl.d/99-sysctl.conf'))
      expect(await bootFiles(root)).toEqual(['/etc/sysctl.d/10-a.conf', '/run/sysctl.d/20-b.conf', '/usr/local/lib/sysctl.d/30-c.conf', '/etc/sysctl.conf'])
      const [fin, rp] = await bootSettings(['net.ipv4.tcp_fin_timeout', 'net.ipv4.conf.eth0.rp_filter'], {root})
      expect(fin!.setters.map((s) => [s.file, s.value])).toEqual([
        ['/etc/sysctl.d/10-a.conf', '11'],
        ['/run/sysctl.d/20-b.conf', '20'],
        ['/etc/sysctl.conf', '40'],
      ])
      expect(fin!.winner?.file).toBe('/etc/sysctl.conf')
      expect(rp!.winner?.file).toBe('/usr/local/lib/sysctl.d/30-c.conf')
    })

    it('knows which paths systemd-sysctl loads', () => {
      expect(searchPathName('/etc/sysctl.d/60-twadvisor.conf')).toBe('/etc/sysctl.d/60-twadvisor.conf')
      expect(searchPathName('/etc/sysctl.d/60-twadvisor.txt')).toBeNull()
      expect(searchPathName('/tmp/60-twadvisor.conf')).toBeNull()
      expect(searchPathName('/r/usr/lib/sysctl.d/x.conf', '/r')).toBe('/usr/lib/sysctl.d/x.conf')
    })
  })
})
