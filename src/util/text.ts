/**
 * The one place where text that came from an input (a dump line, a topology label, a file name,
 * a flag) is made safe to show: on a terminal, in a log, or inside a `#` comment of a generated
 * file. Control characters, Unicode line and paragraph separators, and bidirectional overrides
 * are written as escapes, so no input can start a new line, move the cursor, set a window title
 * (OSC) or reorder what the reader sees; long text is cut with a note of how much was left out.
 */

/** C0 controls, DEL, C1 controls (U+0085 NEL is a YAML line break), line/paragraph separators, bidi controls, BOM. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g

const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

function escapeOne(ch: string): string {
  const named = NAMED[ch]
  if (named !== undefined) return named
  const code = ch.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/** True when the text has nothing `shown` would escape. */
export function isPrintable(text: string): boolean {
  UNSAFE.lastIndex = 0
  return !UNSAFE.test(text)
}

/** Default cut for one echoed input: long enough for a path or a sysctl line, short enough for one terminal line. */
export const SHOWN_MAX_CHARS = 160

/**
 * Input text as it may be shown: escaped, and cut to `max` characters (of the input) with
 * "…(+N chars)" when longer. Deterministic, so generated headers stay byte-identical.
 */
export function shown(text: string, max = SHOWN_MAX_CHARS): string {
  const cut = text.length > max ? text.slice(0, max) : text
  const escaped = cut.replace(UNSAFE, escapeOne)
  return text.length > max ? `${escaped}…(+${text.length - max} chars)` : escaped
}

/** Only the escaping (no cut): for whole messages that are already built from shown() parts. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeOne)
}
