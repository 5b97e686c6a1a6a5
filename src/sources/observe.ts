import {TwError} from '../errors.js'
import {RELEVANT_COUNTERS} from '../facts/keys.js'
import {parseProcNet, parseSockstatTimeWait} from './counters.js'
import {validateNetnsName} from './netns.js'

export interface Snapshot {
  atMs: number
  counters: Record<string, number>
  timeWaitSockets: number | undefined
}

export interface Observation {
  source: string
  /** The running kernel (namespaces share it): which counters exist and what they count. */
  kernel: string | null
  intervalSeconds: number
  /** Per-second rates over the interval; absent counters are left out. */
  rates: Record<string, number>
  totals: Record<string, number>
  timeWaitSockets: number | undefined
  /** TIME_WAIT sockets per remote ip:port, largest first. */
  timeWaitByPeer: {peer: string; sockets: number}[]
}

/** Read /proc/net/{snmp,netstat,sockstat}, in a namespace when asked (via `ip netns exec`). */
async function readProcNet(netns?: string): Promise<{text: string; sockstat: string}> {
  if (netns === undefined) {
    const {readFile} = await import('node:fs/promises')
    const [snmp, netstat, sockstat] = await Promise.all(['snmp', 'netstat', 'sockstat'].map((f) => readFile(`/proc/net/${f}`, 'utf8')))
    return {text: `${snmp}\n${netstat}`, sockstat: sockstat!}
  }
  const {execa} = await import('execa')
  const r = await execa('ip', ['netns', 'exec', netns, 'cat', '/proc/net/snmp', '/proc/net/netstat'], {reject: false})
  const s = await execa('ip', ['netns', 'exec', netns, 'cat', '/proc/net/sockstat'], {reject: false})
  if (r.exitCode !== 0) throw new TwError('observe.netns', `cannot read counters in network namespace "${netns}": ${String(r.stderr).split('\n')[0]}`, {hint: 'it must exist and this needs root'})
  return {text: String(r.stdout), sockstat: String(s.stdout)}
}

export async function snapshot(netns?: string): Promise<Snapshot> {
  const {text, sockstat} = await readProcNet(netns)
  return {atMs: Date.now(), counters: parseProcNet(text), timeWaitSockets: parseSockstatTimeWait(sockstat)}
}

/** TIME_WAIT sockets per peer from the kernel, through `ss` (inet_diag), not /proc/net/tcp. */
export async function timeWaitByPeer(netns?: string, limit = 10): Promise<{peer: string; sockets: number}[]> {
  const {execa} = await import('execa')
  const args = ['-Htan', 'state', 'time-wait']
  const r = netns === undefined ? await execa('ss', args, {reject: false}) : await execa('ip', ['netns', 'exec', netns, 'ss', ...args], {reject: false})
  if (r.exitCode !== 0) return []
  return countPeers(String(r.stdout), limit)
}

/** `ss -Htan state time-wait` lines: Recv-Q Send-Q Local Peer (state column omitted). */
export function countPeers(text: string, limit: number): {peer: string; sockets: number}[] {
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/)
    const peer = cols[cols.length - 1]
    if (!peer || cols.length < 3) continue
    counts.set(peer, (counts.get(peer) ?? 0) + 1)
  }
  return [...counts].map(([peer, sockets]) => ({peer, sockets})).sort((a, b) => b.sockets - a.sockets || a.peer.localeCompare(b.peer)).slice(0, limit)
}

export function rates(a: Snapshot, b: Snapshot): Record<string, number> {
  const seconds = Math.max(0.001, (b.atMs - a.atMs) / 1000)
  const out: Record<string, number> = {}
  for (const k of RELEVANT_COUNTERS) {
    const x = a.counters[k]
    const y = b.counters[k]
    if (x !== undefined && y !== undefined) out[k] = (y - x) / seconds
  }
  return out
}

/** Two snapshots `intervalSeconds` apart; `tick` is called each second for progress. */
export async function observe(opts: {netns?: string; intervalSeconds: number; top: number; tick?: (left: number) => void}): Promise<Observation> {
  if (opts.netns !== undefined) validateNetnsName(opts.netns)
  const first = await snapshot(opts.netns)
  for (let left = Math.ceil(opts.intervalSeconds); left > 0; left--) {
    opts.tick?.(left)
    await new Promise((r) => setTimeout(r, Math.min(1000, opts.intervalSeconds * 1000)))
  }
  const [second, byPeer] = await Promise.all([snapshot(opts.netns), timeWaitByPeer(opts.netns, opts.top)])
  const totals: Record<string, number> = {}
  for (const k of RELEVANT_COUNTERS) if (second.counters[k] !== undefined) totals[k] = second.counters[k]!
  const {release} = await import('node:os')
  return {
    source: opts.netns === undefined ? 'live' : `netns:${opts.netns}`,
    kernel: release(),
    intervalSeconds: (second.atMs - first.atMs) / 1000,
    rates: rates(first, second),
    totals,
    timeWaitSockets: second.timeWaitSockets,
    timeWaitByPeer: byPeer,
  }
}
