/** Terminal styling: colour only on a TTY and without NO_COLOR, so CI logs stay plain. */
export function styler(stream: NodeJS.WriteStream = process.stdout) {
  const on = Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb'
  const wrap = (code: string) => (s: string) => (on ? `\u001B[${code}m${s}\u001B[0m` : s)
  return {
    bold: wrap('1'),
    dim: wrap('2'),
    red: wrap('31'),
    yellow: wrap('33'),
    cyan: wrap('36'),
    green: wrap('32'),
  }
}
