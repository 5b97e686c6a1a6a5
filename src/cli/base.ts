import {Command, Flags} from '@oclif/core'

import {isTwError} from '../errors.js'
import {shown} from '../util/text.js'

/**
 * Every command's base: one way to report a failure. A TwError prints as one line
 * (file:line:col: field: message (hint)) and exits 1; anything else prints its message and
 * exits 1 too; the stack only with --debug. With --json the error is a JSON object on stdout.
 */
export abstract class BaseCommand extends Command {
  static baseFlags = {
    debug: Flags.boolean({description: 'print stack traces on errors', helpGroup: 'GLOBAL'}),
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif uses errors to exit (this.exit(n)); let those through untouched.
    if (err.oclif?.exit !== undefined && err.message.startsWith('EEXIT')) throw err
    const debug = this.argv.includes('--debug')
    // One line, escaped and cut (util/text.ts): an unexpected error may quote any input.
    const line = isTwError(err) ? err.oneLine() : shown(reason(err.message), 400)
    if (this.jsonEnabled()) {
      const body = isTwError(err) ? err.toJSON() : {code: 'error', message: line}
      this.logJson({error: body})
    } else {
      const more = !debug && !isTwError(err) && !err.oclif ? ' (run with --debug for details)' : ''
      process.stderr.write(`twadvisor: error: ${line}${more}\n`)
      if (debug && err.stack) process.stderr.write(`${err.stack}\n`)
    }
    return this.exit(1)
  }
}

/**
 * One line from an error message. oclif's flag errors span lines ("The following error
 * occurred:", then the reason, then "See more help with --help"): keep the reasons, drop the frame.
 */
function reason(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^The following errors? occurred:?$/i.test(l) && !/^See more help with/i.test(l))
  // "Missing 1 required arg:" then one "name  description" line per argument.
  if (lines.length > 1 && /^Missing \d+ required args?:?$/i.test(lines[0]!)) {
    return lines
      .slice(1)
      .map((l) => {
        const [name, ...description] = l.split(/\s{2,}/)
        return `missing argument ${name!.toUpperCase()}${description.length > 0 ? `: ${description.join(' ')}` : ''}`
      })
      .join('; ')
  }
  return lines.join('; ') || message.trim()
}
