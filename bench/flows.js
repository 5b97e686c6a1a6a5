#!/usr/bin/env node
/**
 * Flows bench (issue 11 item 7): `twadvisor check` on ONE topology with N flows against one flow,
 * alternating, in the same run. The cost must be linear in flows; the target is 10,000 flows in
 * <= 2 s on a quiet machine. Prints each pair, the medians, the ratio of the medians, and the CPU
 * time (user+sys) of the N-flow runs, which load from other processes disturbs less than wall time.
 *
 *   npm run build && node bench/flows.js [N=10000] [--runs=5] [--format=json|text]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 10_000)
const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 5)
const format = args.find((a) => a.startsWith('--format='))?.slice(9) ?? 'json'
const dump = join(root, 'test/fixtures/sysctl-6.18.44.txt')

/** N flows of every role and closer, with QPS that vary (so remedies and their values vary too). */
function topology(count) {
  const out = ['host: bench', 'flows:']
  for (let i = 0; i < count; i++) {
    const role = ['client', 'server', 'nat'][i % 3]
    out.push(
      `  - name: f${i}`,
      `    role: ${role}`,
      `    peer: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1000 + (i % 50000)}`,
      `    qps: ${1 + ((i * 37) % 2500)}`,
      `    closes_first: ${i % 4 === 0 ? 'server' : 'client'}`,
      ...(i % 5 === 0 ? ['    keepalive: true'] : []),
      ...(role === 'nat' || i % 7 === 0 ? ['    senders: 8', '    nat:', '      port_range: [32768, 60999]'] : []),
    )
  }
  return `${out.join('\n')}\n`
}

function once(file) {
  const t = performance.now()
  const r = spawnSync(process.execPath, [join(root, 'bin/run.js'), 'check', '-t', file, '-s', dump, '--format', format], {encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'pipe']})
  const ms = performance.now() - t
  if (r.status !== 0 && r.status !== 2) throw new Error(`check failed (${r.status}): ${r.stderr}`)
  return ms
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const dir = mkdtempSync(join(tmpdir(), 'twadvisor-flows-bench-'))
try {
  const one = join(dir, 'one.yaml')
  const many = join(dir, 'many.yaml')
  writeFileSync(one, topology(1))
  writeFileSync(many, topology(n))
  const ones = []
  const manys = []
  for (let i = 0; i < runs; i++) {
    ones.push(once(one))
    manys.push(once(many))
    console.log(`run ${i + 1}: 1 flow ${ones.at(-1).toFixed(0)} ms, ${n} flows ${manys.at(-1).toFixed(0)} ms`)
  }
  // CPU seconds of the N-flow run: `time` of the shell reports the children's user+sys.
  const cpu = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; time node ${JSON.stringify(join(root, 'bin/run.js'))} check -t ${JSON.stringify(many)} -s ${JSON.stringify(dump)} --format ${format} > /dev/null`], {encoding: 'utf8'})
  const [user, sys] = cpu.stderr.trim().split('\n').at(-1).split(' ').map(Number)
  const m1 = median(ones)
  const mn = median(manys)
  console.log(`median: 1 flow ${m1.toFixed(0)} ms, ${n} flows ${mn.toFixed(0)} ms; ratio ${(mn / m1).toFixed(1)}x; ${n} flows CPU ${(user + sys).toFixed(2)} s (user ${user} sys ${sys}); target <= 2 s`)
} finally {
  rmSync(dir, {recursive: true, force: true})
}
