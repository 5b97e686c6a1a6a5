/**
 * Progress of a fleet run on stderr, so stdout stays the report. On a terminal one line redrawn
 * in place (at most ten times a second); in a log (stderr not a TTY, as under Ansible or CI) a
 * plain line every five seconds, so a run that finishes sooner prints nothing at all.
 */
export function fleetProgress(stream: NodeJS.WriteStream = process.stderr): {update: (done: number, total: number) => void; done: () => void} {
  const tty = stream.isTTY === true
  const every = tty ? 100 : 5000
  let last = Date.now()
  let drawn = false
  return {
    update(done, total) {
      const now = Date.now()
      if (now - last < every || done === total) return
      last = now
      const line = `check: ${done}/${total} hosts (${Math.round((done / total) * 100)} %)`
      if (tty) {
        stream.write(`\r\u001B[2K${line}`)
        drawn = true
      } else stream.write(`${line}\n`)
    },
    done() {
      if (drawn) stream.write('\r\u001B[2K')
      drawn = false
    },
  }
}
