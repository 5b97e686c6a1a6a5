import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import type {Topology} from '../topology/types.js'
import type {Discovery} from './infer.js'

export interface DiscoverFlags {
  interval: number
  netns?: string
  from?: string
  floor?: string
  events?: boolean
}

/** Parse the flags, read the host (or the saved folder), infer, and return the topology too. */
export async function runDiscover(
  flags: DiscoverFlags,
  onProgress?: (s: string) => void,
  facts?: Facts,
): Promise<{discovery: Discovery; yaml: string; topology: Topology; facts: Facts}> {
  const floorQps = Number(flags.floor ?? '1')
  if (!Number.isFinite(floorQps) || floorQps < 0) {
    throw new TwError('discover.floor', `--floor must be a number of connections per second, got "${flags.floor}"`, {position: {field: '--floor'}})
  }
  const {readFacts} = await import('../inputs.js')
  const f = facts ?? (flags.from ? {source: flags.from, kernel: null, sysctls: {}, counters: {}} : await readFacts(undefined, flags.netns))
  const {discoverLive, discoverSaved, topologyOf} = await import('./index.js')
  const discovery = flags.from
    ? await discoverSaved(flags.from, {intervalSeconds: flags.interval, floorQps, facts: f})
    : await discoverLive({netns: flags.netns, intervalSeconds: flags.interval, floorQps, events: flags.events, facts: f, onProgress})
  const {yaml, topology} = await topologyOf(discovery)
  return {discovery, yaml, topology, facts: f}
}
