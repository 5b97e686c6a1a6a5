#!/usr/bin/env node
/**
 * What judging remedies on the whole host (src/rules/host-remedies.ts) costs `check`:
 * evaluateHost on the same hosts with the step on and off, in this process, alternating, and
 * the median time per host of each and their ratio (one run, same machine load for both).
 *
 *   npm run build && node bench/host-remedies.js [rounds=9]
 */
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const {evaluateHost} = await import(join(root, 'dist/rules/engine.js'))
const {loadRules} = await import(join(root, 'dist/rules/load.js'))
const {factsFromDump} = await import(join(root, 'dist/sources/dump.js'))
const {parseTopology} = await import(join(root, 'dist/topology/load.js'))

const rounds = Number(process.argv[2] ?? 9)
const rules = loadRules()
const facts = factsFromDump(readFileSync(join(root, 'test/fixtures/sysctl-6.18.44.txt')), 'bench')
const topo = (flows) => parseTopology(`flows:\n${flows.join('')}`, 'bench.yaml')
const flow = (name, role, peer, qps, closes, extra = '') =>
  `  - name: ${name}\n    role: ${role}\n    peer: ${peer}\n    qps: ${qps}\n    closes_first: ${closes}\n${extra}`
// The host shapes the fleet bench uses (client, server behind NAT, server direct), and one that
// overflows its cap so a remedy is combined.
const hosts = [
  topo([flow('api', 'client', '198.18.0.10:80', 600, 'client')]),
  topo([flow('web', 'server', '198.18.0.1:80', 600, 'server', '    senders: 8\n    nat:\n      port_range: [32768, 60999]\n')]),
  topo([flow('a', 'client', '198.18.0.10:80', 600, 'client'), flow('b', 'server', '198.18.0.1:443', 300, 'server')]),
  topo([flow('a', 'client', '198.18.0.10:80', 1200, 'client'), flow('b', 'client', '198.18.0.11:80', 400, 'client')]),
]
const factsFor = (i) => (i === 3 ? {...facts, sysctls: {...facts.sysctls, 'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_max_tw_buckets': '70000'}} : facts)

function timePerHost(judgeOnHost, reps) {
  const t0 = process.hrtime.bigint()
  for (let r = 0; r < reps; r++) hosts.forEach((t, i) => evaluateHost(factsFor(i), t, rules, {judgeOnHost}))
  return Number(process.hrtime.bigint() - t0) / 1e3 / (reps * hosts.length)
}

timePerHost(true, 20)
timePerHost(false, 20)
const on = []
const off = []
const ratios = []
for (let i = 0; i < rounds; i++) {
  const a = timePerHost(false, 50)
  const b = timePerHost(true, 50)
  off.push(a)
  on.push(b)
  ratios.push(b / a)
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
console.log(`evaluateHost per host, median of ${rounds} rounds of 50 × ${hosts.length} hosts:`)
console.log(`  without the whole-host step  ${median(off).toFixed(0)} µs`)
console.log(`  with it                      ${median(on).toFixed(0)} µs`)
console.log(`  ratio (paired, median)       ${median(ratios).toFixed(2)}×`)
