/**
 * NAT evidence from the conntrack table (`conntrack -L -p tcp` or /proc/net/nf_conntrack), where
 * this host can read it. Pure: lines in, one summary per (NAT address, destination) out.
 *
 * An entry whose reply goes to a different address than the original source was SNATed. Linux
 * SNAT keeps the sender's port when that tuple is free and inside the range, and remaps it
 * otherwise or always with `random`/`fully-random` (nf_nat_core.c get_unique_tuple; KERNEL.md,
 * NAT gateways): the share of entries whose reply port equals the original source port is the
 * port-mode evidence.
 */
export interface NatGroup {
  /** SNAT address ("to" address the server sees). */
  natAddress: string
  /** Destination ip:port. */
  destination: string
  entries: number
  /** Entries in conntrack TIME_WAIT. */
  timeWait: number
  /** Entries whose reply port is the sender's own port. */
  preserved: number
  /** Distinct senders behind the NAT address. */
  senders: number
  /** Lowest and highest NAT-side port in use: the pool seen, a lower bound of the configured one. */
  minPort: number
  maxPort: number
}

export interface NatEvidence {
  groups: NatGroup[]
  /** "preserve" when (nearly) every entry kept its port, "remap" otherwise; null without entries. */
  portMode: 'preserve' | 'remap' | null
  preservedShare: number | null
}

function field(line: string, key: string, from: number): [string, number] | null {
  const i = line.indexOf(` ${key}=`, from)
  if (i < 0) return null
  const start = i + key.length + 2
  let end = line.indexOf(' ', start)
  if (end < 0) end = line.length
  return [line.slice(start, end), end]
}

export function parseConntrack(text: string): NatEvidence {
  const groups = new Map<string, NatGroup & {senderSet: Set<string>}>()
  for (const line of text.split('\n')) {
    if (!line.includes(' tcp ') && !line.startsWith('tcp ')) continue
    let at = 0
    const vals: string[] = []
    for (const key of ['src', 'dst', 'sport', 'dport', 'src', 'dst', 'sport', 'dport']) {
      const f = field(` ${line}`, key, at)
      if (!f) break
      vals.push(f[0])
      at = f[1]
    }
    if (vals.length < 8) continue
    const [oSrc, oDst, oSport, oDport, , rDst, , rDport] = vals as [string, string, string, string, string, string, string, string]
    if (rDst === oSrc) continue // not source-NATed
    const key = `${rDst} ${oDst}:${oDport}`
    let g = groups.get(key)
    if (!g) {
      g = {natAddress: rDst, destination: `${oDst}:${oDport}`, entries: 0, timeWait: 0, preserved: 0, senders: 0, minPort: 65536, maxPort: 0, senderSet: new Set()}
      groups.set(key, g)
    }
    g.entries++
    if (/\bTIME_WAIT\b/.test(line)) g.timeWait++
    if (rDport === oSport) g.preserved++
    g.senderSet.add(oSrc)
    const p = Number(rDport)
    if (p < g.minPort) g.minPort = p
    if (p > g.maxPort) g.maxPort = p
  }
  const out: NatGroup[] = [...groups.values()].map(({senderSet, ...g}) => ({...g, senders: senderSet.size}))
  const entries = out.reduce((s, g) => s + g.entries, 0)
  const preserved = out.reduce((s, g) => s + g.preserved, 0)
  const share = entries > 0 ? preserved / entries : null
  // A port-preserving NAT still remaps a sender whose tuple is taken; past 90 % kept it preserves.
  return {groups: out, portMode: share === null ? null : share >= 0.9 ? 'preserve' : 'remap', preservedShare: share}
}
