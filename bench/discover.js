#!/usr/bin/env node
// The cost of discover on a host with a million TIME_WAIT sockets. Builds them in a network
// namespace (bench/tw-fill.c, compiled here with cc: blocking loopback connections that the
// server closes first, one 4-tuple each), then times, alternately in the same run:
//   ss      `ss -tan state time-wait`, its output drained through a pipe (the floor: the kernel
//           dump and ss's formatting, nothing parsed)
//   ss -o   the same with timers (what discover asks for)
//   read    discover's reading of that table: ss -tanHo streamed into the flow table
//           (a fresh node process; wall time of the read, and the process's peak RSS)
//   cli     `twadvisor discover --netns NS --interval 1` end to end, with its peak RSS
// and prints medians and the ratio read / ss. TIME_WAIT lasts 60 s, so the table must be built
// within a minute: the run stops filling at 1,000,000 or 50 s and says how many it reached.
// Root only. Reports; never fails the build. Needs `npm run build` first.
//
//   sudo node bench/discover.js            # BENCH_N=3 rounds, BENCH_TW=1000000
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const N = Math.max(1, Number(process.env.BENCH_N ?? 3) || 3)
const TARGET = Math.max(1000, Number(process.env.BENCH_TW ?? 1_000_000) || 1_000_000)
const FILL_SECONDS = 50
const NS = `twlab-${process.pid}-bench-tw`
const log = (s) => process.stderr.write(`${s}\n`)

if (process.getuid?.() !== 0) {
  log('bench/discover.js needs root (a network namespace)')
  process.exit(0)
}

const ip = (...a) => execFileSync('ip', a, {stdio: ['ignore', 'ignore', 'pipe']})
const inNs = (...a) => ['netns', 'exec', NS, ...a]
const children = new Set()
let cleaned = false
function cleanup() {
  if (cleaned) return
  cleaned = true
  for (const c of children) c.kill('SIGKILL')
  spawnSync('ip', ['netns', 'del', NS])
}
process.on('SIGINT', () => (cleanup(), process.exit(130)))
process.on('SIGTERM', () => (cleanup(), process.exit(143)))

function fill(bin) {
  // Two fillers, one per CPU, on their own listener and client addresses (20 each x 50,000 ports).
  const per = Math.ceil(TARGET / 2)
  const made = [0, 0]
  const t0 = Date.now()
  const runs = [0, 1].map(
    (i) =>
      new Promise((resolve) => {
        const p = spawn('ip', inNs(bin, '198.18.0.1', String(80 + i), `198.18.${i + 1}`, '20', '10000', '59999', String(per), String(FILL_SECONDS)), {stdio: ['ignore', 'pipe', 'pipe']})
        children.add(p)
        p.stderr.setEncoding('utf8')
        p.stderr.on('data', (d) => {
          const m = [...d.matchAll(/progress (\d+)/g)].pop()
          if (m) made[i] = Number(m[1])
        })
        let out = ''
        p.stdout.on('data', (d) => (out += d))
        p.on('close', () => {
          children.delete(p)
          const m = /done (\d+)/.exec(out)
          if (m) made[i] = Number(m[1])
          resolve()
        })
      }),
  )
  const tick = setInterval(() => process.stderr.write(`\rfilling: ${made[0] + made[1]} TIME_WAIT sockets, ${Math.round((Date.now() - t0) / 1000)} s `), 1000)
  return Promise.all(runs).then(() => {
    clearInterval(tick)
    process.stderr.write('\n')
    return {made: made[0] + made[1], seconds: (Date.now() - t0) / 1000}
  })
}

/** Wall ms of a command whose stdout is drained through a pipe. */
function timed(args) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync('ip', inNs(...args), {stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30})
  return {ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: r.stdout?.length ?? 0}
}

/** discover's read of the table, in a fresh process: {ms, rssMb, tw}. */
function readInChild() {
  const code = `
    const {FlowTable} = await import(${JSON.stringify(join(ROOT, 'dist/discover/group.js'))})
    const {streamLines, streamRanges} = await import(${JSON.stringify(join(ROOT, 'dist/sources/sockets.js'))})
    const {execa} = await import('execa')
    const t = new FlowTable(1)
    await streamLines(execa, undefined, ['ss', '-tlnH'], (l) => t.addListener(l))
    const t0 = process.hrtime.bigint()
    await streamRanges(execa, undefined, ['ss', '-tanHo', 'state', 'time-wait'], (s, a, b) => t.addTimeWaitAt(s, a, b))
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    let tw = 0
    for (const g of t.groups.values()) tw += g.timeWait
    console.log(JSON.stringify({ms, rssMb: process.resourceUsage().maxRSS / 1024, tw, groups: t.groups.size}))`
  const r = spawnSync('ip', inNs(process.execPath, '--input-type=module', '-e', code), {cwd: ROOT, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`discover read failed: ${r.stderr.split('\n')[0]}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** The whole CLI: discover --interval 1, wall ms and peak RSS (from the child's rusage). */
function cliRun() {
  const code = `
    const {spawnSync} = await import('node:child_process')
    const t0 = process.hrtime.bigint()
    const r = spawnSync(process.execPath, [${JSON.stringify(join(ROOT, 'bin/run.js'))}, 'discover', '--netns', ${JSON.stringify(NS)}, '--interval', '1', '--json'], {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    console.log(JSON.stringify({ms, status: r.status, err: (r.stderr || '').split('\\n')[0], rssMb: process.resourceUsage().maxRSS / 1024}))`
  // resourceUsage() of the parent does not include children; read the child's from /proc via
  // getrusage(RUSAGE_CHILDREN) instead, which Node exposes as process.resourceUsage() only for
  // itself: so run the CLI under a parent that does nothing else and report RUSAGE_CHILDREN.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {cwd: ROOT, encoding: 'utf8'})
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

try {
  const bin = join(mkdtempSync(join(tmpdir(), 'twadvisor-bench-')), 'tw-fill')
  const cc = spawnSync('cc', ['-O2', '-o', bin, join(ROOT, 'bench', 'tw-fill.c')], {encoding: 'utf8'})
  if (cc.status !== 0) {
    log(`bench/discover.js needs a C compiler (cc) to build the TIME_WAIT table quickly: ${(cc.stderr || cc.error?.message || '').split('\n')[0]}`)
    process.exit(0)
  }
  ip('netns', 'add', NS)
  ip('-n', NS, 'link', 'set', 'lo', 'up')
  const batch = ['addr add 198.18.0.1/32 dev lo']
  for (let a = 1; a <= 2; a++) for (let i = 1; i <= 20; i++) batch.push(`addr add 198.18.${a}.${i}/32 dev lo`)
  execFileSync('ip', ['-n', NS, '-batch', '-'], {input: batch.join('\n') + '\n'})
  execFileSync('ip', inNs('sysctl', '-q', '-w', `net.ipv4.tcp_max_tw_buckets=${TARGET + 100_000}`))
  const filled = await fill(bin)
  log(`built ${filled.made} TIME_WAIT sockets in ${filled.seconds.toFixed(1)} s (goal ${TARGET}; they expire 60 s after creation, so the rounds below see fewer)`)

  const rows = {ss: [], sso: [], read: [], rss: [], tw: []}
  for (let i = 0; i < N; i++) {
    // ABBA order so the table's decay hits both sides alike.
    const a = timed(['ss', '-tan', 'state', 'time-wait'])
    const b = timed(['ss', '-tanHo', 'state', 'time-wait'])
    const d = readInChild()
    const a2 = timed(['ss', '-tan', 'state', 'time-wait'])
    rows.ss.push((a.ms + a2.ms) / 2)
    rows.sso.push(b.ms)
    rows.read.push(d.ms)
    rows.rss.push(d.rssMb)
    rows.tw.push(d.tw)
    log(`round ${i + 1}/${N}: ${d.tw} TIME_WAIT; ss ${Math.round((a.ms + a2.ms) / 2)} ms, ss -o ${Math.round(b.ms)} ms, discover read ${Math.round(d.ms)} ms, peak ${Math.round(d.rssMb)} MB`)
  }
  const cli = cliRun()
  const ss = median(rows.ss)
  const read = median(rows.read)
  console.log(
    JSON.stringify(
      {
        time_wait_built: filled.made,
        build_seconds: Math.round(filled.seconds * 10) / 10,
        time_wait_median: median(rows.tw),
        rounds: N,
        ss_ms: Math.round(ss),
        ss_timers_ms: Math.round(median(rows.sso)),
        discover_read_ms: Math.round(read),
        ratio_read_to_ss: Math.round((read / ss) * 100) / 100,
        goal_ratio: 1.5,
        discover_read_peak_rss_mb: Math.round(Math.max(...rows.rss)),
        cli_discover_interval_1s_ms: Math.round(cli.ms),
        goal_peak_rss_mb: 300,
        load_average: (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10),
      },
      null,
      2,
    ),
  )
} finally {
  cleanup()
}
