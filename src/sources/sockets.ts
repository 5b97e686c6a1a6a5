import {TwError} from '../errors.js'
import {parseProcNet} from './counters.js'
import {validateNetnsName} from './netns.js'

/**
 * The socket table and counters, read from the kernel through `ss` (inet_diag netlink; never
 * /proc/net/tcp, which walks the whole hash table in text) and /proc/net. Read-only: only
 * dumps and one sock_diag event subscription (`ss -E`), never `ss -K` or any write.
 * execa with argument arrays; the namespace name is validated before anything runs.
 */
type Execa = typeof import('execa').execa

function command(netns: string | undefined, args: string[]): [string, string[]] {
  return netns === undefined ? [args[0]!, args.slice(1)] : ['ip', ['netns', 'exec', netns, ...args]]
}

/**
 * Run a command and hand its stdout to `onLine` line by line as it arrives: the text of a
 * million-socket table is never held whole.
 */
export async function streamLines(execa: Execa, netns: string | undefined, args: string[], onLine: (line: string) => void, timeoutMs = 120_000): Promise<void> {
  const {lineSplitter} = await import('../discover/group.js')
  return streamChunks(execa, netns, args, lineSplitter(onLine), timeoutMs)
}

/** The same, each line handed over as (text, start, end) of the chunk it lies in. */
export async function streamRanges(
  execa: Execa,
  netns: string | undefined,
  args: string[],
  onLine: (text: string, start: number, end: number) => void,
  timeoutMs = 120_000,
): Promise<void> {
  const {rangeSplitter} = await import('../discover/group.js')
  return streamChunks(execa, netns, args, rangeSplitter(onLine), timeoutMs)
}

async function streamChunks(execa: Execa, netns: string | undefined, args: string[], split: {push: (c: string) => void; end: () => void}, timeoutMs: number): Promise<void> {
  const [file, argv] = command(netns, args)
  const proc = execa(file, argv, {reject: false, buffer: {stdout: false, stderr: true}, stdin: 'ignore', timeout: timeoutMs})
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => split.push(chunk))
  const r = await proc
  split.end()
  if (r.exitCode !== 0) {
    const why = String(r.stderr ?? '').split('\n')[0] || r.shortMessage
    throw new TwError('discover.ss', `\`${[file, ...argv].join(' ')}\` failed: ${why}`, {
      hint: netns === undefined ? 'discover needs `ss` (iproute2)' : 'the namespace must exist and this needs root',
    })
  }
}

/**
 * Subscribe to socket destruction events (sock_diag, `ss -E`) until `stop()`: each line is one
 * connection end on this host. stdbuf keeps ss line-buffered, so nothing waits in its buffer
 * when it is stopped.
 */
export async function watchClosures(
  execa: Execa,
  netns: string | undefined,
  onLine: (line: string) => void,
): Promise<{startedAt: number; stop: () => Promise<number>}> {
  const {lineSplitter} = await import('../discover/group.js')
  const [file, argv] = command(netns, ['stdbuf', '-oL', 'ss', '-EtanH'])
  const proc = execa(file, argv, {reject: false, buffer: false, stdin: 'ignore', timeout: 3_600_000})
  // Ends seen before the window opens are dropped, so the count and the window match.
  let armed = false
  const split = lineSplitter((l) => armed && onLine(l))
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => split.push(chunk))
  let err = ''
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()).slice(0, 2000))
  // ss subscribes within milliseconds of starting; the window opens once it surely has.
  await new Promise((r) => setTimeout(r, 300))
  if (proc.exitCode !== null) {
    throw new TwError('discover.events', `cannot watch connection ends (\`ss -E\`): ${err.split('\n')[0] || `exit ${proc.exitCode}`}`, {
      hint: 'needs iproute2 ss with -E and coreutils stdbuf; pass --no-events to estimate rates from TIME_WAIT timers instead',
    })
  }
  armed = true
  const startedAt = Date.now()
  let stoppedAt: number | null = null
  return {
    startedAt,
    /** Closes the window; returns when it closed (ms). */
    async stop() {
      if (stoppedAt !== null) return stoppedAt
      // Symmetric with the start: lines in the pipe at either edge are milliseconds old.
      stoppedAt = Date.now()
      armed = false
      proc.kill('SIGTERM')
      await proc
      split.end()
      return stoppedAt
    },
  }
}

export async function readCountersIn(netns: string | undefined): Promise<Record<string, number>> {
  if (netns === undefined) {
    const {readFile} = await import('node:fs/promises')
    const [a, b] = await Promise.all([readFile('/proc/net/snmp', 'utf8'), readFile('/proc/net/netstat', 'utf8')])
    return parseProcNet(`${a}\n${b}`)
  }
  const {execa} = await import('execa')
  const r = await execa('ip', ['netns', 'exec', netns, 'cat', '/proc/net/snmp', '/proc/net/netstat'], {reject: false})
  if (r.exitCode !== 0) throw new TwError('discover.netns', `cannot read counters in network namespace "${netns}": ${String(r.stderr).split('\n')[0]}`, {hint: 'it must exist and this needs root'})
  return parseProcNet(String(r.stdout))
}

/** The conntrack table where this host can read it (`conntrack -L`); null when it cannot. */
export async function readConntrack(netns: string | undefined): Promise<string | null> {
  const {execa} = await import('execa')
  const [file, argv] = command(netns, ['conntrack', '-L', '-p', 'tcp'])
  const r = await execa(file, argv, {reject: false, timeout: 30_000})
  if (r.exitCode === 0) return String(r.stdout)
  const [f2, a2] = command(netns, ['cat', '/proc/net/nf_conntrack'])
  const p = await execa(f2, a2, {reject: false, timeout: 30_000})
  return p.exitCode === 0 ? String(p.stdout) : null
}

export function checkNetns(netns: string | undefined): void {
  if (netns !== undefined) validateNetnsName(netns)
}
