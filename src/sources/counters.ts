/**
 * /proc/net/snmp and /proc/net/netstat share one layout: pairs of lines, a header line of names
 * and a value line, both prefixed with the group ("TcpExt:"). Counters come back as
 * "<Group><Name>" the way nstat names them (TcpExtTWRecycled, TcpActiveOpens). With `keep`, only
 * those counters: a fleet run reads ~300 per host and uses a dozen, so groups with none of them
 * (IpExt, MPTcpExt, Udp, ...) are not even split.
 */
export function parseProcNet(text: string, keep?: ReadonlySet<string>): Record<string, number> {
  const out: Record<string, number> = {}
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const headLine = lines[i]!.trim()
    const label = headLine.split(/\s/, 1)[0]!
    const group = label.replace(/:$/, '')
    const names = keep && keptNames(keep, group)
    if (names && names.size === 0) continue
    const head = headLine.split(/\s+/)
    const vals = lines[i + 1]!.trim().split(/\s+/)
    if (!group || vals[0] !== label) continue
    for (let j = 1; j < head.length; j++) {
      if (names && !names.has(head[j]!)) continue
      const v = Number(vals[j])
      if (Number.isFinite(v)) out[`${group}${head[j]}`] = v
    }
  }
  return out
}

/** The names in `keep` under one group ("TcpExt" -> TW, TWRecycled, ...), worked out once. */
const keptNamesCache = new WeakMap<ReadonlySet<string>, Map<string, Set<string>>>()
function keptNames(keep: ReadonlySet<string>, group: string): Set<string> {
  let byGroup = keptNamesCache.get(keep)
  if (!byGroup) keptNamesCache.set(keep, (byGroup = new Map()))
  let names = byGroup.get(group)
  if (!names) {
    names = new Set([...keep].filter((k) => k.startsWith(group)).map((k) => k.slice(group.length)))
    byGroup.set(group, names)
  }
  return names
}

/** `TCP: inuse 5 orphan 0 tw 12 alloc 7 mem 1` -> 12 */
export function parseSockstatTimeWait(text: string): number | undefined {
  const m = /^TCP:.*\btw (\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}
