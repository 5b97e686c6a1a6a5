// `npm run fidelity` (root): run the lab's fidelity matrix on this kernel and write the measured
// table into README.md between the fidelity markers. The table is the tool's own output
// (fidelityTable), so the README shows exactly what was measured, and when.
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import {release} from 'node:os'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const {runLab} = await import(`${root}dist/lab/run.js`)
const {runFidelity, fidelityTable, SCENARIOS} = await import(`${root}dist/lab/scenarios.js`)

const START = '<!-- fidelity:start (npm run fidelity writes this table) -->'
const END = '<!-- fidelity:end -->'
const readme = `${root}README.md`
const text = readFileSync(readme, 'utf8')
const a = text.indexOf(START)
const b = text.indexOf(END)
if (a < 0 || b < a) {
  process.stderr.write(`fidelity: README.md has no "${START}" ... "${END}" section\n`)
  process.exit(1)
}
const t0 = Date.now()
const rows = await runFidelity(SCENARIOS, runLab, {
  concurrency: 3,
  onDone: (r) => process.stderr.write(`fidelity: ${r.id}: ${r.report.agrees ? 'agrees' : 'DISAGREES'} (${r.wall_seconds} s)\n`),
})
const table = fidelityTable(rows, release())
// Written beside it and renamed: an interrupted run never leaves half a README.
writeFileSync(`${readme}.fidelity-tmp`, `${text.slice(0, a + START.length)}\n${table}${text.slice(b)}`)
renameSync(`${readme}.fidelity-tmp`, readme)
process.stderr.write(`fidelity: ${rows.length} scenarios in ${Math.round((Date.now() - t0) / 1000)} s; README.md updated\n`)
process.exitCode = rows.every((r) => r.report.agrees) ? 0 : 2
