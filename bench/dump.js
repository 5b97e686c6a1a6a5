#!/usr/bin/env node
/**
 * Dump bench (issue 11 item 8): `twadvisor check -s DUMP` on a ~200 MB `sysctl -a` dump (the
 * real 6.18 dump repeated, with per-copy interface keys so the text is not one block repeated)
 * against `wc -c DUMP` and `wc -l DUMP` on the same file, alternating, in the same run. `wc -c`
 * on a regular file only asks its size; `wc -l` reads every byte, the fair baseline for a reader.
 * Prints each run, the medians, the ratios, and the peak RSS of check (the reader streams: memory stays bounded by a
 * chunk, a line and the distinct keys, not the file size).
 *
 *   npm run build && node bench/dump.js [MB=200] [--runs=3]
 */
import {spawnSync} from 'node:child_process'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const mb = Number(args.find((a) => /^\d+$/.test(a)) ?? 200)
const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3)
const base = readFileSync(join(root, 'test/fixtures/sysctl-6.18.44.txt'), 'utf8')
const topology = join(root, 'examples/incident/topology.yaml')

/** Wall seconds and peak RSS (KB) of a command, from GNU time. */
function timed(cmd) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...cmd], {encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26})
  const last = r.stderr.trim().split('\n').at(-1)
  const [s, kb] = last.split(' ').map(Number)
  if (r.status !== 0 && r.status !== 2) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.slice(0, 400)}`)
  return {s, kb}
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const dir = mkdtempSync(join(tmpdir(), 'twadvisor-dump-bench-'))
try {
  const file = join(dir, 'sysctl-big.txt')
  const fd = openSync(file, 'w')
  let bytes = 0
  for (let i = 0; bytes < mb * 1024 * 1024; i++) {
    const chunk = `${base}net.ipv4.conf.veth${i}.forwarding = 1\nnet.ipv6.conf.veth${i}.disable_ipv6 = 0\n`
    writeSync(fd, chunk)
    bytes += Buffer.byteLength(chunk)
  }
  closeSync(fd)
  console.log(`dump: ${(bytes / 1024 / 1024).toFixed(0)} MB`)
  const checks = []
  const wcs = []
  const wls = []
  let rss = 0
  for (let i = 0; i < runs; i++) {
    const c = timed([process.execPath, join(root, 'bin/run.js'), 'check', '-t', topology, '-s', file, '--format', 'json'])
    const w = timed(['wc', '-c', file])
    const l = timed(['wc', '-l', file])
    checks.push(c.s)
    wcs.push(w.s)
    wls.push(l.s)
    rss = Math.max(rss, c.kb)
    console.log(`run ${i + 1}: check ${c.s.toFixed(2)} s (peak RSS ${(c.kb / 1024).toFixed(0)} MB), wc -c ${w.s.toFixed(2)} s, wc -l ${l.s.toFixed(2)} s`)
  }
  const mc = median(checks)
  // GNU time prints hundredths: a 0.00 s wc -c is counted as 0.01 s.
  const mw = Math.max(median(wcs), 0.01)
  const ml = Math.max(median(wls), 0.01)
  console.log(`median: check ${mc.toFixed(2)} s, wc -c ${median(wcs).toFixed(2)} s (ratio ${(mc / mw).toFixed(0)}x), wc -l ${median(wls).toFixed(2)} s (ratio ${(mc / ml).toFixed(1)}x); peak RSS ${(rss / 1024).toFixed(0)} MB`)
} finally {
  rmSync(dir, {recursive: true, force: true})
}
