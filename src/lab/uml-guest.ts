/**
 * The lab's entry inside the user-mode Linux guest (started by the init script of uml.ts):
 * reads the jobs, runs each with the same runLab() the host uses (the layer says
 * "uml-guest"), and writes one result file per job into the scratch folder. Progress goes to
 * the console as `twuml: ...` lines, which the host parses.
 */
import {writeFileSync} from 'node:fs'
import {readFileSync} from 'node:fs'
import {release} from 'node:os'
import {join} from 'node:path'

import {isTwError} from '../errors.js'
import {labPrediction, onKernel} from './kernel-sides.js'
import {runLab} from './run.js'
import type {GuestJob, GuestResult} from './uml.js'

/** The PAWS counters this kernel has at all (6.1 has PAWSEstab, no PAWSTimewait). */
function pawsCounters(): string[] {
  const text = readFileSync('/proc/net/netstat', 'utf8')
  return [...text.matchAll(/\b(PAWS\w+)/g)].map((m) => `TcpExt${m[1]!}`).filter((n, i, a) => a.indexOf(n) === i)
}

const say = (kind: string, text: string) => process.stdout.write(`twuml: ${kind} ${text}\n`)

async function main(specFile: string, outDir: string): Promise<void> {
  const jobs = JSON.parse(readFileSync(specFile, 'utf8')) as GuestJob[]
  const kernel = release()
  for (const [i, job] of jobs.entries()) {
    let result: GuestResult
    let last = 0
    try {
      // Every side of the flow runs on this kernel: tell the prediction so.
      const {flow, facts} = onKernel(job.flow, job.facts, kernel)
      const report = await runLab({
        flow,
        facts,
        remedy: job.remedy,
        scale: job.scale,
        phaseSeconds: job.phaseSeconds,
        warmupSeconds: job.warmupSeconds,
        maxExtensions: job.maxExtensions,
        timeoutMs: job.timeoutMs,
        onStep: (line) => say('step', line),
        onProgress: (p) => {
          if (Date.now() - last < 2000 && p.done !== p.total) return
          last = Date.now()
          say('progress', `${p.phase} ${p.done} ${p.total}`)
        },
      })
      result = {ok: true, report, mechanism: labPrediction(flow, facts, kernel).mechanism, paws_counters: pawsCounters()}
    } catch (error) {
      result = isTwError(error)
        ? {ok: false, error: {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})}}
        : {ok: false, error: {code: 'lab.uml', message: (error as Error).message?.split('\n')[0] ?? String(error)}}
    }
    writeFileSync(join(outDir, `result-${i}.json`), JSON.stringify(result))
    say('done', String(i))
  }
}

const [spec, out] = process.argv.slice(2)
main(spec ?? '', out ?? '').then(
  () => process.exit(0),
  (error: unknown) => {
    say('setup-failed', `guest entry: ${(error as Error).message?.split('\n')[0] ?? String(error)}`)
    process.exit(1)
  },
)
