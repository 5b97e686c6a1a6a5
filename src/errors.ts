import {escapeControls} from './util/text.js'

/**
 * The one user-facing error type. Every bad input, missing tool or refused action is a
 * TwError: a stable code, a one-line message, an optional hint, and where it happened.
 * Commands print `file:line:col: message (hint)` and exit 1; the stack is shown only with --debug.
 */
export interface ErrorPosition {
  file?: string
  line?: number
  col?: number
  field?: string
}

export class TwError extends Error {
  readonly code: string
  readonly hint?: string
  readonly position: ErrorPosition

  constructor(code: string, message: string, opts: {hint?: string; position?: ErrorPosition; cause?: unknown} = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause})
    this.name = 'TwError'
    this.code = code
    this.hint = opts.hint
    this.position = opts.position ?? {}
  }

  /** `file:line:col: field: message (hint)` — one line, the form editors and CI logs link. */
  oneLine(): string {
    const p = this.position
    const where = p.file ? [p.file, p.line, p.line === undefined ? undefined : p.col].filter((x) => x !== undefined).join(':') + ': ' : ''
    const field = p.field ? `${p.field}: ` : ''
    const hint = this.hint ? ` (${this.hint})` : ''
    // The last line of defence: whatever a message quoted, no control byte reaches a terminal.
    return escapeControls(`${where}${field}${this.message}${hint}`)
  }

  toJSON(): Record<string, unknown> {
    return {code: this.code, message: this.message, hint: this.hint, ...this.position}
  }
}

export function isTwError(e: unknown): e is TwError {
  return e instanceof TwError
}
