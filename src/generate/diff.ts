/**
 * The unified diff `generate --diff` and the wizard show before replacing a file: jsdiff's
 * (Myers' algorithm, the format `patch` reads), with the two file headers and no Index line.
 */
import {createTwoFilesPatch, FILE_HEADERS_ONLY} from 'diff'

export interface DiffOptions {
  oldLabel?: string
  newLabel?: string
  context?: number
}

/** The unified diff from oldText to newText; '' when they are equal. */
export function unifiedDiff(oldText: string, newText: string, opts: DiffOptions = {}): string {
  if (oldText === newText) return ''
  return createTwoFilesPatch(opts.oldLabel ?? 'a', opts.newLabel ?? 'b', oldText, newText, undefined, undefined, {
    context: opts.context ?? 3,
    headerOptions: FILE_HEADERS_ONLY,
  })
}
