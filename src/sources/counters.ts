/**
 * /proc/net/snmp and /proc/net/netstat share one layout: pairs of lines, a header line of names
 * and a value line, both prefixed with the group ("TcpExt:"). Counters come back as
 * "<Group><Name>" the way nstat names them (TcpExtTWRecycled, TcpActiveOpens).
 */
export function parseProcNet(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i]!.trim().split(/\s+/)
    const vals = lines[i + 1]!.trim().split(/\s+/)
    const group = head[0]?.replace(/:$/, '')
    if (!group || vals[0] !== head[0]) continue
    for (let j = 1; j < head.length; j++) {
      const v = Number(vals[j])
      if (Number.isFinite(v)) out[`${group}${head[j]}`] = v
    }
  }
  return out
}

/** `TCP: inuse 5 orphan 0 tw 12 alloc 7 mem 1` -> 12 */
export function parseSockstatTimeWait(text: string): number | undefined {
  const m = /^TCP:.*\btw (\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}
