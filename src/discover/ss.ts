/**
 * One line of `ss -tanH` output, parsed without regular expressions or splitting into arrays:
 * discover reads a million-line TIME_WAIT table, so a line costs a few indexOf calls and no
 * garbage beyond the two endpoint strings. Pure.
 *
 * Layouts (iproute2 6.x, -H: no header):
 *   with a state column:     `TIME-WAIT 0 0 10.0.0.1:80 10.0.0.2:40000 [timer:(timewait,59sec,0)]`
 *   `state X` filter:        `0 0 10.0.0.1:80 10.0.0.2:40000 [timer:(...)]`
 *   events (`ss -E`):        `UNCONN 0 0 10.0.0.1:80 10.0.0.2:40000`
 */
export interface SsLine {
  /** Upper-case state as ss prints it ("ESTAB", "TIME-WAIT", "LISTEN", "UNCONN"), or the filter's. */
  state: string
  recvQ: number
  local: string
  peer: string
  /** timer:(timewait,...) remaining, in seconds, when `-o` printed one. */
  timerSeconds?: number
}

/** Fields of a line separated by runs of spaces; returns [start, end) pairs into `out`. */
export function fields(line: string, out: number[], max: number, from = 0, to = line.length): number {
  let n = 0
  let i = from
  const len = to
  while (i < len && n < max) {
    while (i < len && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++
    if (i >= len) break
    const start = i
    while (i < len && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++
    out[2 * n] = start
    out[2 * n + 1] = i
    n++
  }
  return n
}

const scratch: number[] = new Array(12).fill(0)

/**
 * `defaultState` is the state a `state X` filter implies (ss omits the column then). Returns
 * null for blank or malformed lines.
 */
export function parseSsLine(line: string, defaultState?: string): SsLine | null {
  const n = fields(line, scratch, 6)
  if (n < 4) return null
  const c0 = line.charCodeAt(scratch[0]!)
  const hasState = !(c0 >= 48 && c0 <= 57)
  const base = hasState ? 1 : 0
  if (n < base + 4) return null
  const state = hasState ? line.slice(scratch[0], scratch[1]) : (defaultState ?? 'UNKNOWN')
  const recvQ = Number(line.slice(scratch[2 * base], scratch[2 * base + 1]))
  const local = line.slice(scratch[2 * (base + 2)], scratch[2 * (base + 2) + 1])
  const peer = line.slice(scratch[2 * (base + 3)], scratch[2 * (base + 3) + 1])
  const out: SsLine = {state, recvQ: Number.isFinite(recvQ) ? recvQ : 0, local, peer}
  const t = line.indexOf('timer:(timewait,', scratch[2 * (base + 3) + 1])
  if (t >= 0) out.timerSeconds = timerAt(line, t + 16)
  return out
}

/** The timer value starting at `i` ("59sec,", "1min,", "500ms,"), without building strings. */
export function timerAt(line: string, i: number): number {
  let total = 0
  let v = 0
  let frac = 0
  let scale = 0
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      if (scale > 0) {
        frac += (c - 48) / scale
        scale *= 10
      } else v = v * 10 + (c - 48)
    } else if (c === 46) scale = 10
    else if (c === 44 || c === 41) break
    else {
      const x = v + frac
      if (line.startsWith('min', i)) total += x * 60, (i += 2)
      else if (line.startsWith('ms', i)) total += x / 1000, (i += 1)
      else if (line.startsWith('sec', i)) total += x, (i += 2)
      v = 0
      frac = 0
      scale = 0
    }
  }
  return total
}

/** ss timer text: "59sec", "1min", "1min2sec", "500ms", "1.5sec". */
export function parseSsDuration(s: string): number {
  let total = 0
  const re = /([0-9.]+)(min|sec|ms)/g
  let m: RegExpExecArray | null
  while ((m = re.exec(s)) !== null) {
    const v = Number(m[1])
    total += m[2] === 'min' ? v * 60 : m[2] === 'ms' ? v / 1000 : v
  }
  return total
}

/** "10.0.0.1:80" / "[::1]:80" / "[::ffff:10.0.0.1]:80" / "*:80" / "10.0.0.1%eth0:80" -> parts. */
export function splitEndpoint(ep: string): {ip: string; port: number} | null {
  const i = ep.lastIndexOf(':')
  if (i <= 0) return null
  const portText = ep.slice(i + 1)
  if (portText === '*') return null
  const port = Number(portText)
  if (!Number.isInteger(port)) return null
  let ip = ep.slice(0, i)
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1)
  const pct = ip.indexOf('%')
  if (pct >= 0) ip = ip.slice(0, pct)
  // v4-mapped v6 addresses are the v4 host as far as flows go.
  if (ip.startsWith('::ffff:') && ip.indexOf('.') > 0) ip = ip.slice(7)
  return {ip, port}
}

/** An endpoint back in the topology's `peer` form: v6 in brackets. */
export function joinEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}
