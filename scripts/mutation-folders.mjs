#!/usr/bin/env node
// `npm run mutation`, one folder at a time: `node scripts/mutation-folders.mjs [model rules ...]`
// (after `npm run build`). Each folder's run writes reports/mutation/<folder>.json, so a run
// stopped part-way keeps the folders it finished, and one folder can be measured again after a
// new test; the score then merges the four reports (scripts/mutation-score.mjs). Same Stryker
// configuration as the single run (stryker.config.mjs), only `--mutate` differs.
import {spawnSync} from 'node:child_process'
import {existsSync, renameSync} from 'node:fs'

const FOLDERS = ['topology', 'rules', 'generate', 'model']
const asked = process.argv.slice(2)
for (const f of asked) if (!FOLDERS.includes(f)) throw new Error(`unknown folder "${f}" (one of ${FOLDERS.join(', ')})`)
for (const folder of asked.length > 0 ? asked : FOLDERS) {
  const started = Date.now()
  const r = spawnSync('npx', ['stryker', 'run', '--mutate', `src/${folder}/**/*.ts,!src/**/*.d.ts`], {stdio: 'inherit'})
  if (r.status !== 0) process.exit(r.status ?? 1)
  renameSync('reports/mutation/mutation.json', `reports/mutation/${folder}.json`)
  console.log(`src/${folder}: ${Math.round((Date.now() - started) / 60_000)} min`)
}
const reports = FOLDERS.map((f) => `reports/mutation/${f}.json`).filter((p) => existsSync(p))
spawnSync(process.execPath, ['scripts/mutation-score.mjs', ...reports], {stdio: 'inherit'})
