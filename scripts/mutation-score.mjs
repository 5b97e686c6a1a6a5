#!/usr/bin/env node
// The score of the last `npm run mutation`, per folder, from Stryker's JSON report: killed (or
// timed out) over all mutants that could have been caught (survived and uncovered count
// against it). Prints every survivor, so each is either killed by a new test or listed in
// docs/mutation.md as equivalent.
//
// Several reports (a run per folder: scripts/mutation-folders.mjs) are merged; a file measured
// twice keeps the report given last. Ignored mutants are not in the score: the script says how
// many and why (excluded mutators, static mutants skipped with ignoreStatic, `Stryker disable`
// comments), so a score over fewer mutants cannot pass for the whole.
import {readFileSync} from 'node:fs'

// `--list` may come before or after the reports' paths (the README writes it alone).
const paths = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const reports = (paths.length > 0 ? paths : ['reports/mutation/mutation.json']).map((p) => JSON.parse(readFileSync(p, 'utf8')))
const files = Object.assign({}, ...reports.map((r) => r.files))

const blank = () => ({killed: 0, survived: 0, noCoverage: 0, timeout: 0, ignored: 0, other: 0, static: 0})
const folders = new Map()
const survivors = []
const ignoredWhy = new Map()
for (const [file, {mutants, source}] of Object.entries(files)) {
  const folder = file.split('/').slice(0, 2).join('/')
  const f = folders.get(folder) ?? blank()
  const lines = source.split('\n')
  for (const m of mutants) {
    if (m.static) f.static++
    if (m.status === 'Killed') f.killed++
    else if (m.status === 'Timeout') f.timeout++
    else if (m.status === 'Survived' || m.status === 'NoCoverage') {
      f[m.status === 'Survived' ? 'survived' : 'noCoverage']++
      const line = m.location.start.line
      survivors.push(`${m.status === 'Survived' ? 'survived ' : 'uncovered'} ${file}:${line} ${m.mutatorName}: ${(lines[line - 1] ?? '').trim().slice(0, 90)}  ->  ${String(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 60)}`)
    } else if (m.status === 'Ignored') {
      f.ignored++
      const why = /excluded mutation/.test(m.statusReason ?? '') ? 'excluded mutators (StringLiteral, Regex)' : /[Ss]tatic/.test(m.statusReason ?? '') ? 'static mutants (ignoreStatic)' : `other: ${m.statusReason ?? 'no reason given'}`
      ignoredWhy.set(why, (ignoredWhy.get(why) ?? 0) + 1)
    } else f.other++
  }
  folders.set(folder, f)
}
const score = (f) => {
  const caught = f.killed + f.timeout
  const total = caught + f.survived + f.noCoverage
  return total === 0 ? 100 : (100 * caught) / total
}
const all = blank()
if (process.argv.includes('--list')) for (const s of survivors) console.log(s)
console.log('')
console.log('folder           killed  timeout  survived  uncovered  ignored  static  score')
const row = (name, f) =>
  `${name.padEnd(16)} ${String(f.killed).padStart(6)}  ${String(f.timeout).padStart(7)}  ${String(f.survived).padStart(8)}  ${String(f.noCoverage).padStart(9)}  ${String(f.ignored).padStart(7)}  ${String(f.static).padStart(6)}  ${score(f).toFixed(1).padStart(5)} %`
for (const [folder, f] of [...folders].sort()) {
  for (const k of Object.keys(all)) all[k] += f[k]
  console.log(row(folder, f))
}
console.log(row('all', all))
if (all.other > 0) console.log(`${all.other} mutants with another status (compile or runtime error), not in the score`)
for (const [why, n] of ignoredWhy) console.log(`ignored, not in the score: ${n} ${why}`)
console.log(`mutation score: ${score(all).toFixed(1)} % over ${all.killed + all.timeout + all.survived + all.noCoverage} mutants (${survivors.length} not caught; \`node scripts/mutation-score.mjs --list\` lists them)`)
