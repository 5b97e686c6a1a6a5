import type {Progress} from './run.js'

/**
 * Progress on stderr while the lab runs: a bar redrawn in place on a terminal; in CI (stderr
 * not a TTY) a plain line every few seconds, so logs stay readable.
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: Progress) => void
  onStep: (line: string) => void
  done: () => void
} {
  const tty = stream.isTTY === true
  const width = 30
  let lastPlain = 0
  let drawn = false
  const clear = () => {
    if (tty && drawn) stream.write('\r\u001B[2K')
    drawn = false
  }
  return {
    onProgress(p) {
      const share = p.total > 0 ? Math.min(1, p.done / p.total) : 0
      if (tty) {
        const fill = Math.round(share * width)
        stream.write(`\r\u001B[2K${p.phase.padEnd(6)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(Math.round(share * 100)).padStart(3)}%  ${p.done}/${p.total} connections`)
        drawn = true
      } else if (Date.now() - lastPlain >= 5000 || p.done === p.total) {
        if (p.done === p.total && lastPlain === -1) return
        stream.write(`lab: ${p.phase} ${p.done}/${p.total} connections (${Math.round(share * 100)} %)\n`)
        lastPlain = p.done === p.total ? -1 : Date.now()
      }
    },
    onStep(line) {
      clear()
      lastPlain = 0
      stream.write(`lab: ${line}\n`)
    },
    done() {
      clear()
    },
  }
}
