#!/usr/bin/env node
// The README's cross-kernel table, regenerated: every scenario of src/lab/cross-kernel.ts run
// on this machine's kernel (network namespaces) and inside the user-mode Linux guest (6.1),
// one line per scenario and kernel: what was measured, the mechanism it shows, the mechanism
// the prediction named for that kernel, and whether the verdicts agree.
// Root; `npm run build` first; about 4 minutes. Usage: sudo node scripts/cross-kernel.js [--uml PATH]
import {release} from 'node:os'

const {CROSS_KERNEL} = await import('../dist/lab/cross-kernel.js')
const {labPrediction, MECHANISM_FLOOR, measuredMechanism, pawsCounterFor} = await import('../dist/lab/kernel-sides.js')
const {runLab} = await import('../dist/lab/run.js')
const {runJobsInUml, DEFAULT_UML} = await import('../dist/lab/uml.js')

const i = process.argv.indexOf('--uml')
const binary = i > 0 ? process.argv[i + 1] : DEFAULT_UML

const rows = []
const row = (c, r, predicted) => {
  const p = r.before
  const paws = pawsCounterFor(r.kernel)
  rows.push(
    `| ${c.title} | ${r.kernel} | ${p.attempts} | ${p.failures.timeout} | ${p.slow} | ${p.failures.EADDRNOTAVAIL} | ${paws.replace('TcpExt', '')} ${p.counters.server?.[paws] ?? 0} | ${predicted} | ${measuredMechanism(p, r.kernel, MECHANISM_FLOOR)} | ${r.agrees ? 'yes' : 'NO'} |`,
  )
}

process.stderr.write(`host ${release()}: ${CROSS_KERNEL.length} scenarios\n`)
const host = []
for (const c of CROSS_KERNEL) {
  const r = await runLab({...c.job, onStep: (l) => process.stderr.write(`  ${c.id}: ${l}\n`)})
  host.push([c, r, labPrediction(c.job.flow, c.job.facts, r.kernel).mechanism])
}
process.stderr.write(`user-mode Linux ${binary}: one boot\n`)
const t0 = Date.now()
const guest = await runJobsInUml(
  CROSS_KERNEL.map((c) => c.job),
  {binary},
  {onLine: (kind, text) => kind === 'step' && process.stderr.write(`  uml: ${text}\n`)},
)
const secs = Math.round((Date.now() - t0) / 1000)
for (const [k, c] of CROSS_KERNEL.entries()) {
  const g = guest.results[k]
  if (!g.ok) throw new Error(`${c.id} in the guest: ${g.error.message}`)
  row(...host[k])
  row(c, g.report, g.mechanism)
}
console.log('| scenario | kernel | attempts | timeouts | slow | EADDRNOTAVAIL | server PAWS counter | predicted | measured | agrees |')
console.log('|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) console.log(r)
console.log(`\n(guest: boot to power-off ${secs} s for all ${CROSS_KERNEL.length} scenarios)`)
