/**
 * The lab's traffic driver, run by `ip netns exec NS node dist/lab/driver.js ...` inside a
 * namespace. Self-contained on purpose (node: modules only): it is started many times and must
 * not load the CLI. Two modes:
 *
 *   server --listen IP:PORT[,IP:PORT] --closes server|client --max-seconds N
 *     Accepts connections; with --closes server it sends FIN at once (the server holds
 *     TIME_WAIT), otherwise it waits for the client's FIN. Prints "ready" when listening and,
 *     on SIGTERM/SIGINT or at --max-seconds, one JSON line: tuples seen again within
 *     --reuse-window seconds of their previous use (what lands on the server's TIME_WAIT).
 *
 *   client --target IP:PORT[,IP:PORT] --rate R --count N --seconds T --timeout-ms M --closes ...
 *     Opens short connections at a fixed rate (connect() picks the source port: that is what is
 *     measured) and records every attempt. Bounded by count AND time. Prints "progress D N"
 *     lines on stderr and, at the end, one JSON line {"attempts":[[startMs, connectMs, kind,
 *     localPort], ...]} on stdout. kind: "ok" | "EADDRNOTAVAIL" | "reset" | "timeout" | "other"; localPort is null
 *     only when the socket never had one.
 */
import net from 'node:net'

type Kind = 'ok' | 'EADDRNOTAVAIL' | 'reset' | 'timeout' | 'other'
export type Attempt = [startMs: number, connectMs: number | null, kind: Kind, localPort: number | null]

function args(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a.startsWith('--')) {
      out[a.slice(2)] = argv[i + 1] ?? ''
      i++
    }
  }
  return out
}

function endpoints(list: string): {host: string; port: number}[] {
  return list.split(',').map((s) => {
    const i = s.lastIndexOf(':')
    return {host: s.slice(0, i), port: Number(s.slice(i + 1))}
  })
}

function num(v: string | undefined, name: string): number {
  const n = Number(v)
  if (v === undefined || !Number.isFinite(n)) {
    process.stderr.write(`driver: --${name} must be a number\n`)
    process.exit(2)
  }
  return n
}

function kindOf(err: NodeJS.ErrnoException): Kind {
  switch (err.code) {
    case 'EADDRNOTAVAIL':
      return 'EADDRNOTAVAIL'
    case 'ECONNRESET':
    case 'ECONNREFUSED':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset'
    case 'ETIMEDOUT':
      return 'timeout'
    default:
      return 'other'
  }
}

function server(o: Record<string, string>): void {
  const closes = o.closes === 'client' ? 'client' : 'server'
  const maxSeconds = num(o['max-seconds'], 'max-seconds')
  const windowMs = num(o['reuse-window'] ?? '60', 'reuse-window') * 1000
  const lastSeen = new Map<string, number>()
  let accepted = 0
  let reused = 0
  // Reuses by age of the previous use, 10 s buckets: how soon tuples come back.
  const ages = Array.from({length: Math.ceil(windowMs / 10_000)}, () => 0)
  const servers = endpoints(o.listen ?? '').map((ep) => {
    const s = net.createServer({allowHalfOpen: false}, (sock) => {
      accepted++
      const key = `${sock.remoteAddress}:${sock.remotePort}>${ep.host}:${ep.port}`
      const now = Date.now()
      const prev = lastSeen.get(key)
      if (prev !== undefined && now - prev < windowMs) {
        reused++
        const bucket = Math.min(ages.length - 1, Math.floor((now - prev) / 10_000))
        ages[bucket]!++
      }
      lastSeen.set(key, now)
      sock.on('error', () => {})
      // The side that calls end() first sends the first FIN and keeps TIME_WAIT.
      if (closes === 'server') sock.end()
    })
    s.listen({host: ep.host, port: ep.port, backlog: 4096})
    return s
  })
  let listening = 0
  for (const s of servers) {
    s.on('listening', () => {
      if (++listening === servers.length) process.stdout.write('ready\n')
    })
    s.on('error', (e) => {
      process.stderr.write(`driver: listen: ${e.message}\n`)
      process.exit(3)
    })
  }
  let done = false
  const finish = () => {
    if (done) return
    done = true
    process.stdout.write(`${JSON.stringify({accepted, reused, ages})}\n`, () => process.exit(0))
  }
  process.on('SIGTERM', finish)
  process.on('SIGINT', finish)
  setTimeout(finish, maxSeconds * 1000).unref()
  // Never outlive the parent: it holds our stdin open.
  process.stdin.on('end', finish)
  process.stdin.resume()
}

function client(o: Record<string, string>): void {
  const targets = endpoints(o.target ?? '')
  const rate = num(o.rate, 'rate')
  const count = Math.floor(num(o.count, 'count'))
  const seconds = num(o.seconds, 'seconds')
  const timeoutMs = num(o['timeout-ms'], 'timeout-ms')
  const closes = o.closes === 'client' ? 'client' : 'server'
  const attempts: Attempt[] = []
  let outstanding = 0
  let launched = 0
  let finished = 0
  const t0 = performance.now()
  const deadline = t0 + seconds * 1000

  const attempt = (i: number) => {
    const target = targets[i % targets.length]!
    const start = performance.now()
    const rec: Attempt = [Math.round(start - t0), null, 'ok', null]
    attempts.push(rec)
    outstanding++
    let settled = false
    const settle = (kind: Kind) => {
      if (settled) return
      settled = true
      rec[2] = kind
      clearTimeout(timer)
      outstanding--
      finished++
    }
    const sock = net.connect({host: target.host, port: target.port})
    // A connect that never completes still had a source port (bound at connect()): the report
    // needs it to see a port that fails every time (a stuck tuple).
    const portOf = () => {
      if (rec[3] === null) rec[3] = sock.localPort ?? null
    }
    const timer = setTimeout(() => {
      if (rec[1] === null) {
        portOf()
        settle('timeout')
        sock.destroy()
      }
    }, timeoutMs)
    sock.on('connect', () => {
      rec[1] = Math.round((performance.now() - start) * 100) / 100
      rec[3] = sock.localPort ?? null
      clearTimeout(timer)
      if (closes === 'client') sock.end()
    })
    sock.on('error', (e: NodeJS.ErrnoException) => {
      portOf()
      settle(kindOf(e))
      sock.destroy()
    })
    sock.on('close', () => settle('ok'))
    // The connection is held only until both FINs pass; a stuck peer is cut off after the timeout.
    setTimeout(() => sock.destroy(), timeoutMs * 2).unref()
  }

  const progress = setInterval(() => process.stderr.write(`progress ${finished} ${count}\n`), 250)
  const tick = () => {
    const now = performance.now()
    const due = Math.min(count, Math.floor(((now - t0) / 1000) * rate) + 1)
    while (launched < due && now < deadline) attempt(launched++)
    if (launched < count && now < deadline) {
      setTimeout(tick, Math.max(1, Math.min(10, 1000 / rate)))
      return
    }
    // Stop launching; wait for the outstanding attempts, bounded by the timeout.
    const stopAt = performance.now() + timeoutMs + 500
    const wait = () => {
      if (outstanding > 0 && performance.now() < stopAt) {
        setTimeout(wait, 20)
        return
      }
      clearInterval(progress)
      process.stderr.write(`progress ${finished} ${count}\n`)
      process.stdout.write(`${JSON.stringify({attempts})}\n`, () => process.exit(0))
    }
    wait()
  }
  process.on('SIGTERM', () => process.exit(143))
  process.on('SIGINT', () => process.exit(130))
  tick()
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'server') server(args(rest))
else if (mode === 'client') client(args(rest))
else {
  process.stderr.write('usage: driver.js server|client --...\n')
  process.exit(2)
}
