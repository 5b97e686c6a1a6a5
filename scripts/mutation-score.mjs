#!/usr/bin/env node
// The score of the last `npm run mutation`, per folder, from Stryker's JSON report: killed (or
// timed out) over all mutants that could have been caught (survived and uncovered count
// against it). Prints every survivor, so each is either killed by a new test or listed in the
// README as equivalent.
import {readFileSync} from 'node:fs'

// `--list` may come before or after the report's path (the README writes it alone).
const file = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'reports/mutation/mutation.json'
const report = JSON.parse(readFileSync(file, 'utf8'))
const folders = new Map()
const survivors = []
for (const [file, {mutants, source}] of Object.entries(report.files)) {
  const folder = file.split('/').slice(0, 2).join('/')
  const f = folders.get(folder) ?? {killed: 0, survived: 0, noCoverage: 0, timeout: 0, other: 0}
  const lines = source.split('\n')
  for (const m of mutants) {
    if (m.status === 'Killed') f.killed++
    else if (m.status === 'Timeout') f.timeout++
    else if (m.status === 'Survived' || m.status === 'NoCoverage') {
      f[m.status === 'Survived' ? 'survived' : 'noCoverage']++
      const line = m.location.start.line
      survivors.push(`${m.status === 'Survived' ? 'survived ' : 'uncovered'} ${file}:${line} ${m.mutatorName}: ${(lines[line - 1] ?? '').trim().slice(0, 90)}  ->  ${String(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 60)}`)
    } else f.other++
  }
  folders.set(folder, f)
}
const score = (f) => {
  const caught = f.killed + f.timeout
  const total = caught + f.survived + f.noCoverage
  return total === 0 ? 100 : (100 * caught) / total
}
const all = {killed: 0, survived: 0, noCoverage: 0, timeout: 0, other: 0}
if (process.argv.includes('--list')) for (const s of survivors) console.log(s)
console.log('')
console.log('folder           killed  timeout  survived  uncovered  score')
for (const [folder, f] of [...folders].sort()) {
  for (const k of Object.keys(all)) all[k] += f[k]
  console.log(`${folder.padEnd(16)} ${String(f.killed).padStart(6)}  ${String(f.timeout).padStart(7)}  ${String(f.survived).padStart(8)}  ${String(f.noCoverage).padStart(9)}  ${score(f).toFixed(1).padStart(5)} %`)
}
console.log(`${'all'.padEnd(16)} ${String(all.killed).padStart(6)}  ${String(all.timeout).padStart(7)}  ${String(all.survived).padStart(8)}  ${String(all.noCoverage).padStart(9)}  ${score(all).toFixed(1).padStart(5)} %`)
console.log(`mutation score: ${score(all).toFixed(1)} % (${survivors.length} not caught; \`node scripts/mutation-score.mjs --list\` lists them)`)
