import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {DEFAULT_PORT_RANGE} from '../model/constants.js'
import type {Topology} from '../topology/types.js'
import {parseConntrack} from './conntrack.js'
import {FlowTable} from './group.js'
import {infer, type Discovery} from './infer.js'

export interface DiscoverOptions {
  netns?: string
  intervalSeconds: number
  floorQps?: number
  /** Count connection ends with sock_diag events (default); off, rates come from TIME_WAIT timers. */
  events?: boolean
  facts?: Facts
  host?: string
  onProgress?: (what: string) => void
}

function portRangeOf(facts: Facts | undefined): [number, number] {
  const p = (facts?.sysctls['net.ipv4.ip_local_port_range'] ?? '').trim().split(/\s+/).map(Number)
  return p.length === 2 && p.every(Number.isFinite) ? [p[0]!, p[1]!] : DEFAULT_PORT_RANGE
}

/**
 * Watch the live host (or a namespace) for `intervalSeconds`, then read its socket table, and
 * infer its flows. Reads only: socket dumps, one event subscription, counters.
 */
export async function discoverLive(opts: DiscoverOptions): Promise<Discovery> {
  const {checkNetns, readConntrack, readCountersIn, streamLines, streamRanges, watchClosures} = await import('../sources/sockets.js')
  checkNetns(opts.netns)
  const {execa} = await import('execa')
  const table = new FlowTable(opts.intervalSeconds)
  const ns = opts.netns
  // Listeners first, so every socket that follows finds its flow as it streams past.
  await streamLines(execa, ns, ['ss', '-tlnH'], (l) => table.addListener(l))
  const events = opts.events !== false
  const watch = events ? await watchClosures(execa, ns, (l) => table.addEvent(l)) : null
  try {
    const countersStart = await readCountersIn(ns)
    await streamLines(execa, ns, ['ss', '-tanH', 'state', 'established'], (l) => table.addEstablished(l, 'start'))
    const started = watch?.startedAt ?? Date.now()
    for (let left = Math.ceil(opts.intervalSeconds); left > 0; left--) {
      opts.onProgress?.(`watching: ${left} s left`)
      const until = started + (Math.ceil(opts.intervalSeconds) - left + 1) * 1000
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(until - Date.now(), opts.intervalSeconds * 1000))))
    }
    const stopped = watch ? await watch.stop() : Date.now()
    const seconds = (stopped - started) / 1000
    const countersEnd = await readCountersIn(ns)
    await streamLines(execa, ns, ['ss', '-tanH', 'state', 'established'], (l) => table.addEstablished(l, 'end'))
    let n = 0
    await streamRanges(execa, ns, ['ss', '-tanHo', 'state', 'time-wait'], (text, start, end) => {
      table.addTimeWaitAt(text, start, end)
      if (++n % 100_000 === 0) opts.onProgress?.(`TIME_WAIT sockets read: ${n}`)
    })
    const ct = await readConntrack(ns)
    return infer(
      {
        source: ns === undefined ? 'live' : `netns:${ns}`,
        host: opts.host,
        intervalSeconds: Math.round(seconds * 100) / 100,
        table,
        events,
        countersStart,
        countersEnd,
        portRange: portRangeOf(opts.facts),
        conntrack: ct === null ? null : parseConntrack(ct),
      },
      {floorQps: opts.floorQps},
    )
  } finally {
    // Any exit path: the subscription goes.
    if (watch) await watch.stop().catch(() => undefined)
  }
}

/** Saved readings in a folder, the names `discover --save` writes; see SAVED_FILES. */
export const SAVED_FILES = {
  listen: 'listen.txt',
  establishedStart: 'established-start.txt',
  establishedEnd: 'established-end.txt',
  timeWait: 'time-wait.txt',
  events: 'events.txt',
  countersStart: 'counters-start.txt',
  countersEnd: 'counters-end.txt',
  conntrack: 'conntrack.txt',
} as const

export async function discoverSaved(dir: string, opts: Omit<DiscoverOptions, 'netns' | 'events'>): Promise<Discovery> {
  const {readFile} = await import('node:fs/promises')
  const {join} = await import('node:path')
  const {parseProcNet} = await import('../sources/counters.js')
  const read = async (name: string, required: boolean): Promise<string | null> => {
    try {
      return await readFile(join(dir, name), 'utf8')
    } catch (e) {
      if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new TwError('discover.saved', `cannot read ${join(dir, name)}: ${(e as Error).message.split('\n')[0]}`, {
        hint: `a saved discovery folder holds ${Object.values(SAVED_FILES).join(', ')} (listen.txt and time-wait.txt required)`,
        position: {file: join(dir, name)},
      })
    }
  }
  const table = new FlowTable(opts.intervalSeconds)
  const each = (text: string | null, f: (l: string) => void) => {
    if (text) for (const l of text.split('\n')) if (l.trim() !== '') f(l)
  }
  each(await read(SAVED_FILES.listen, true), (l) => table.addListener(l))
  each(await read(SAVED_FILES.establishedStart, false), (l) => table.addEstablished(l, 'start'))
  each(await read(SAVED_FILES.establishedEnd, false), (l) => table.addEstablished(l, 'end'))
  each(await read(SAVED_FILES.timeWait, true), (l) => table.addTimeWait(l))
  const events = await read(SAVED_FILES.events, false)
  each(events, (l) => table.addEvent(l))
  const cs = await read(SAVED_FILES.countersStart, false)
  const ce = await read(SAVED_FILES.countersEnd, false)
  const ct = await read(SAVED_FILES.conntrack, false)
  return infer(
    {
      source: dir,
      host: opts.host,
      intervalSeconds: opts.intervalSeconds,
      table,
      events: events !== null,
      countersStart: cs ? parseProcNet(cs) : {},
      countersEnd: ce ? parseProcNet(ce) : {},
      portRange: portRangeOf(opts.facts),
      conntrack: ct === null ? null : parseConntrack(ct),
    },
    {floorQps: opts.floorQps},
  )
}

/** The discovery as the topology `check` evaluates: the YAML written, parsed back by the loader. */
export async function topologyOf(d: Discovery): Promise<{yaml: string; topology: Topology}> {
  if (d.flows.length === 0) {
    throw new TwError('discover.empty', `no flow at or above ${d.floorQps} new connections/s in ${d.intervalSeconds} s${d.folded.length ? ` (${d.folded.length} folded below it)` : ''}`, {
      hint: 'watch longer (--interval) or lower the floor (--floor)',
    })
  }
  const {toYaml} = await import('./render.js')
  const {parseTopology} = await import('../topology/load.js')
  const yaml = toYaml(d)
  return {yaml, topology: parseTopology(yaml, `discover:${d.source}`)}
}
