import {fields, joinEndpoint, parseSsLine, splitEndpoint, timerAt} from './ss.js'

/**
 * Groups sockets into flows as they stream past, keeping counts, never the sockets: a million
 * TIME_WAIT lines end up as a few numbers per flow. Pure (text in, numbers out).
 *
 * A socket whose local ip:port is a listener belongs to that listener's server flow; any other
 * socket is an outgoing connection and belongs to the client flow toward its remote ip:port.
 */
export interface FlowGroup {
  role: 'server' | 'client'
  /** Server: the local listener ip:port. Client: the remote ip:port. */
  endpoint: string
  /** TIME_WAIT entries this host holds for the flow (the side that closed first holds them). */
  timeWait: number
  /** Of those, entries whose timer shows they began within the last `windowSeconds`. */
  timeWaitRecent: number
  /** ESTABLISHED at the first and last reading, and those present at both (long-lived). */
  establishedStart: number
  establishedEnd: number
  establishedKept: number
  /** Connection ends during the interval (sock_diag destroy events). */
  closes: number
  /** Server: the peers' addresses. Client: this host's source addresses. */
  addresses: Set<string>
  /** Source ports seen (the peers' for a server flow, ours for a client flow). */
  minPort: number
  maxPort: number
  evenPorts: number
  oddPorts: number
}

/** Distinct addresses kept per flow; past it the count says "at least". */
export const MAX_ADDRESSES = 65_536

export class FlowTable {
  readonly groups = new Map<string, FlowGroup>()
  private readonly listenExact = new Set<string>()
  private readonly listenAny = new Set<number>()
  private readonly estabStart = new Set<string>()
  private estabStartKept = true
  /** Lines that parsed to nothing (blank or malformed), for the evidence. */
  skipped = 0

  constructor(readonly windowSeconds = 0) {}

  /** A line of `ss -tlnH`. */
  addListener(line: string): void {
    const s = parseSsLine(line, 'LISTEN')
    if (!s) return
    const ep = splitEndpoint(s.local)
    if (!ep) return
    if (ep.ip === '*' || ep.ip === '0.0.0.0' || ep.ip === '::') this.listenAny.add(ep.port)
    else this.listenExact.add(joinEndpoint(ep.ip, ep.port))
  }

  isListener(endpoint: string): boolean {
    const ep = splitEndpoint(endpoint)
    return ep !== null && (this.listenAny.has(ep.port) || this.listenExact.has(joinEndpoint(ep.ip, ep.port)))
  }

  get listenerCount(): number {
    return this.listenExact.size + this.listenAny.size
  }

  /** Which flow a socket belongs to, or null (a listener itself, an unconnected socket). */
  private groupOf(local: string, peer: string): {g: FlowGroup; addr: string; port: number} | null {
    // The common case (plain IPv4 text) goes without building new endpoint strings: this runs
    // once per line of a million-line table.
    const l: {ip: string; port: number; plain?: boolean} | null = fastSplit(local) ?? splitEndpoint(local)
    const p: {ip: string; port: number; plain?: boolean} | null = fastSplit(peer) ?? splitEndpoint(peer)
    if (!l || !p) return null
    const localEp = l.plain ? local : joinEndpoint(l.ip, l.port)
    if (this.listenAny.has(l.port) || this.listenExact.has(localEp) || serverPorts(l.port, p.port)) {
      return {g: this.group('server', localEp), addr: p.ip, port: p.port}
    }
    return {g: this.group('client', p.plain ? peer : joinEndpoint(p.ip, p.port)), addr: l.ip, port: l.port}
  }

  private readonly byRole = {server: new Map<string, FlowGroup>(), client: new Map<string, FlowGroup>()}

  private group(role: 'server' | 'client', endpoint: string): FlowGroup {
    let g = this.byRole[role].get(endpoint)
    if (!g) {
      g = {role, endpoint, timeWait: 0, timeWaitRecent: 0, establishedStart: 0, establishedEnd: 0, establishedKept: 0, closes: 0, addresses: new Set(), minPort: 65536, maxPort: 0, evenPorts: 0, oddPorts: 0}
      this.byRole[role].set(endpoint, g)
      this.groups.set(`${role} ${endpoint}`, g)
    }
    return g
  }

  private seen(g: FlowGroup, addr: string, port: number): void {
    if (g.addresses.size < MAX_ADDRESSES && !g.addresses.has(addr)) g.addresses.add(addr)
    if (port < g.minPort) g.minPort = port
    if (port > g.maxPort) g.maxPort = port
    if (port % 2 === 0) g.evenPorts++
    else g.oddPorts++
  }

  /** A line of `ss -tanH state time-wait` (with -o, the timer shows how recent it is). */
  addTimeWait(line: string): void {
    if (this.fastTimeWait(line, 0, line.length)) return
    const s = parseSsLine(line, 'TIME-WAIT')
    if (!s) return void this.skipped++
    const at = this.groupOf(s.local, s.peer)
    if (!at) return
    at.g.timeWait++
    // TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN): an entry with more than 60 - W s left began within W s.
    if (s.timerSeconds !== undefined && this.windowSeconds > 0 && s.timerSeconds >= 60 - this.windowSeconds) at.g.timeWaitRecent++
    this.seen(at.g, at.addr, at.port)
  }

  // The last endpoint texts seen and what they resolved to: consecutive lines of a big table
  // mostly share the listener and the peer address, so most lines allocate nothing.
  private lastLocal = ''
  private lastGroup: FlowGroup | null = null
  private lastAddr = ''

  /**
   * The TIME_WAIT line of a plain IPv4 socket, read in place (offsets, digits), without the
   * general parser's strings and objects; false sends the line to the general path.
   */
  private fastTimeWait(line: string, from: number, to: number): boolean {
    const f = fastFields
    const n = fields(line, f, 6, from, to)
    if (n < 4) return false
    const c0 = line.charCodeAt(f[0]!)
    const base = c0 >= 48 && c0 <= 57 ? 0 : 1
    if (n < base + 4) return false
    const ls = f[2 * (base + 2)]!
    const le = f[2 * (base + 2) + 1]!
    const ps = f[2 * (base + 3)]!
    const pe = f[2 * (base + 3) + 1]!
    const lc = plainColon(line, ls, le)
    const pc = plainColon(line, ps, pe)
    if (lc < 0 || pc < 0) return false
    const lport = digits(line, lc + 1, le)
    const pport = digits(line, pc + 1, pe)
    if (lport < 0 || pport < 0) return false
    // Which side is the listener decides the flow; the endpoint text is the flow's key.
    let server: boolean
    let g: FlowGroup
    let addrStart: number
    let addrEnd: number
    let port: number
    const sameLocal = this.lastGroup !== null && le - ls === this.lastLocal.length && line.startsWith(this.lastLocal, ls)
    if (sameLocal && this.lastGroup!.role === 'server') {
      server = true
      g = this.lastGroup!
    } else {
      const local = line.slice(ls, le)
      server = this.listenAny.has(lport) || this.listenExact.has(local) || serverPorts(lport, pport)
      if (server) {
        g = this.group('server', local)
        this.lastLocal = local
        this.lastGroup = g
      } else {
        g = this.group('client', line.slice(ps, pe))
        this.lastLocal = ''
        this.lastGroup = null
      }
    }
    if (server) {
      addrStart = ps
      addrEnd = pc
      port = pport
    } else {
      addrStart = ls
      addrEnd = lc
      port = lport
    }
    g.timeWait++
    const t = line.indexOf('timer:(timewait,', pe)
    if (t >= 0 && t < to && this.windowSeconds > 0 && timerAt(line, t + 16) >= 60 - this.windowSeconds) g.timeWaitRecent++
    if (!(addrEnd - addrStart === this.lastAddr.length && line.startsWith(this.lastAddr, addrStart) && g.addresses.has(this.lastAddr))) {
      this.lastAddr = line.slice(addrStart, addrEnd)
      if (g.addresses.size < MAX_ADDRESSES) g.addresses.add(this.lastAddr)
    }
    if (port < g.minPort) g.minPort = port
    if (port > g.maxPort) g.maxPort = port
    if (port % 2 === 0) g.evenPorts++
    else g.oddPorts++
    return true
  }

  /**
   * The same for the line at text[from, to) of a chunk, read where it lies: a big table's lines
   * are never cut out as strings unless they need the general parser.
   */
  addTimeWaitAt(text: string, from: number, to: number): void {
    if (!this.fastTimeWait(text, from, to)) this.addTimeWait(text.slice(from, to))
  }

  /** A line of `ss -tanH state established`, at the first (`start`) or last reading. */
  addEstablished(line: string, when: 'start' | 'end'): void {
    const s = parseSsLine(line, 'ESTAB')
    if (!s) return void this.skipped++
    const at = this.groupOf(s.local, s.peer)
    if (!at) return
    const tuple = `${s.local} ${s.peer}`
    if (when === 'start') {
      at.g.establishedStart++
      // Long-lived connections are few on any host; past this the comparison is skipped.
      if (this.estabStart.size < 200_000) this.estabStart.add(tuple)
      else this.estabStartKept = false
    } else {
      at.g.establishedEnd++
      if (this.estabStartKept && this.estabStart.has(tuple)) at.g.establishedKept++
    }
    this.seen(at.g, at.addr, at.port)
  }

  /** A line of `ss -EtanH` (a socket being destroyed: one connection end on this host). */
  addEvent(line: string): void {
    const s = parseSsLine(line, 'UNCONN')
    if (!s) return void this.skipped++
    const at = this.groupOf(s.local, s.peer)
    if (!at) return
    at.g.closes++
    this.seen(at.g, at.addr, at.port)
  }
}

const fastFields: number[] = new Array(12).fill(0)

/**
 * A privileged local port toward an unprivileged remote one is a server's side even when no
 * listener is there now (the service restarted, the table outlived it): connect() never picks
 * a port below 1024 (ip_local_port_range cannot start there; KERNEL.md, ip_local_port_range).
 */
function serverPorts(localPort: number, remotePort: number): boolean {
  return localPort < 1024 && remotePort >= 1024
}

/** The one colon of a plain IPv4 endpoint in line[start, end), or -1 (v6, %iface, wildcard). */
function plainColon(line: string, start: number, end: number): number {
  let colon = -1
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i)
    if (c === 58) {
      if (colon >= 0) return -1
      colon = i
    } else if (c !== 46 && (c < 48 || c > 57)) return -1
  }
  return colon > start ? colon : -1
}

/** Decimal digits in line[start, end) as a number, or -1. */
function digits(line: string, start: number, end: number): number {
  if (start >= end) return -1
  let v = 0
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v
}

/** "10.0.0.1:80" -> parts, only for plain IPv4 text (no brackets, no %iface); else null. */
function fastSplit(ep: string): {ip: string; port: number; plain: true} | null {
  const i = ep.lastIndexOf(':')
  if (i <= 0 || ep.charCodeAt(0) === 91 || ep.indexOf(':') !== i || ep.indexOf('%') >= 0 || ep.charCodeAt(0) === 42) return null
  let port = 0
  for (let k = i + 1; k < ep.length; k++) {
    const c = ep.charCodeAt(k) - 48
    if (c < 0 || c > 9) return null
    port = port * 10 + c
  }
  return i + 1 < ep.length ? {ip: ep.slice(0, i), port, plain: true} : null
}

/** Feed a chunked text stream to a per-line callback as (text, start, end): no string per line. */
export function rangeSplitter(onLine: (text: string, start: number, end: number) => void): {push: (chunk: string) => void; end: () => void} {
  let rest = ''
  return {
    push(chunk: string) {
      let start = 0
      let nl = chunk.indexOf('\n')
      if (nl >= 0 && rest !== '') {
        const joined = rest + chunk.slice(0, nl)
        onLine(joined, 0, joined.length)
        rest = ''
        start = nl + 1
        nl = chunk.indexOf('\n', start)
      }
      while (nl >= 0) {
        if (nl > start) onLine(chunk, start, nl)
        start = nl + 1
        nl = chunk.indexOf('\n', start)
      }
      rest += chunk.slice(start)
    },
    end() {
      if (rest !== '') onLine(rest, 0, rest.length)
      rest = ''
    },
  }
}

/** Feed a chunked text stream to a per-line callback without building the whole text. */
export function lineSplitter(onLine: (line: string) => void): {push: (chunk: string) => void; end: () => void} {
  let rest = ''
  return {
    push(chunk: string) {
      let start = 0
      let nl = chunk.indexOf('\n')
      if (nl >= 0 && rest !== '') {
        onLine(rest + chunk.slice(0, nl))
        rest = ''
        start = nl + 1
        nl = chunk.indexOf('\n', start)
      }
      while (nl >= 0) {
        onLine(chunk.slice(start, nl))
        start = nl + 1
        nl = chunk.indexOf('\n', start)
      }
      rest += chunk.slice(start)
    },
    end() {
      if (rest !== '') onLine(rest)
      rest = ''
    },
  }
}
