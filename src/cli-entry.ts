// The one module bin/run.js loads: oclif and the command list, bundled by esbuild
// (scripts/bundle.js) so start-up does not resolve hundreds of files. Lazy imports inside the
// commands stay separate chunks, so `check` never loads the lab, the wizard or execa.
import {flush, run} from '@oclif/core'

import {COMMANDS} from './commands/index.js'
import {nearest} from './util/nearest.js'

export {COMMANDS}

/**
 * oclif's `execute`, with the errors raised before any command runs (an unknown command) printed
 * in the tool's one-line form: `twadvisor: error: ...`, exit 1. Errors inside a command already
 * are (src/cli/base.ts); oclif's own exits pass through with their code.
 */
export async function execute(opts: {dir: string}): Promise<void> {
  try {
    await run(process.argv.slice(2), opts.dir)
    await flush()
  } catch (error) {
    const err = error as Error & {oclif?: {exit?: number}}
    if (err.message?.startsWith('EEXIT')) {
      process.exitCode = err.oclif?.exit ?? 1
      return
    }
    const unknown = /^command (\S+) not found$/.exec(err.message ?? '')
    if (unknown) {
      const near = nearest(unknown[1]!, Object.keys(COMMANDS))
      const hint = near ? `did you mean "${near}"?` : 'see `twadvisor --help`'
      process.stderr.write(`twadvisor: error: unknown command "${unknown[1]}" (${hint})\n`)
    } else {
      process.stderr.write(`twadvisor: error: ${(err.message ?? String(error)).split('\n')[0]}\n`)
      if (process.argv.includes('--debug') && err.stack) process.stderr.write(`${err.stack}\n`)
    }
    process.exitCode = 1
  }
}
