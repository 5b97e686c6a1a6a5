import type {Topology} from '../topology/types.js'

/**
 * `check --hosts` joins hosts: a client flow on A toward B's listener is the same traffic as
 * B's server flow on that listener. When the fleet holds more client sources toward B than B
 * sees source addresses, something between them (NAT, a proxy) folds them together: B's flow
 * gets the fleet's count as its senders, and the report says why. Pure.
 */
export interface JoinedFlow {
  senders: number
  note: string
}

/** Per host label, per flow name: what the fleet adds. */
export type FleetJoin = Record<string, Record<string, JoinedFlow>>

export function joinFleet(hosts: {label: string; topology: Topology}[]): FleetJoin {
  // Who opens connections toward each endpoint, and from how many source addresses.
  const clients = new Map<string, {label: string; addresses: number}[]>()
  for (const h of hosts) {
    for (const f of h.topology.flows) {
      if (f.role !== 'client') continue
      const list = clients.get(f.peer) ?? []
      list.push({label: h.label, addresses: f.client_addresses})
      clients.set(f.peer, list)
    }
  }
  const out: FleetJoin = {}
  for (const h of hosts) {
    for (const f of h.topology.flows) {
      if (f.role !== 'server') continue
      const from = (clients.get(f.peer) ?? []).filter((c) => c.label !== h.label)
      if (from.length === 0) continue
      const sources = from.reduce((s, c) => s + c.addresses, 0)
      if (sources <= f.client_addresses) continue
      const names = from.map((c) => c.label)
      const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ')
      ;(out[h.label] ??= {})[f.name] = {
        senders: Math.max(f.senders, sources),
        note: `flow ${f.name}: the fleet holds ${sources} client source address(es) toward ${f.peer} (${shown}) but ${h.label} sees ${f.client_addresses}: the gap is NAT or a proxy; senders taken as ${Math.max(f.senders, sources)}`,
      }
    }
  }
  return out
}

/** The join applied to one host's topology (a copy); the notes for its report. */
export function applyJoin(t: Topology, join: Record<string, JoinedFlow> | undefined): {topology: Topology; notes: string[]} {
  if (!join) return {topology: t, notes: []}
  const notes: string[] = []
  const flows = t.flows.map((f) => {
    const j = join[f.name]
    if (!j) return f
    notes.push(j.note)
    return {...f, senders: j.senders}
  })
  return {topology: {...t, flows}, notes}
}
