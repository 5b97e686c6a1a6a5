/** The topology file, as users write it (field names are public: keep them). */
export type Role = 'client' | 'server' | 'nat'
export type Closer = 'server' | 'client'

/**
 * How the NAT picks the source port the server sees (nf_nat_core.c, docs/kernel.md "NAT"):
 * - preserve: Linux SNAT/masquerade's default, keeps the sender's port when that tuple is free
 *   and inside port_range, remaps into the range otherwise;
 * - random: NF_NAT_RANGE_PROTO_RANDOM, a port from the range on every new connection;
 * - fully-random: NF_NAT_RANGE_PROTO_RANDOM_FULLY (kube-proxy's masquerade), the same for us.
 */
export type NatPortMode = 'preserve' | 'random' | 'fully-random'

export interface NatSpec {
  /** SNAT source port pool, inclusive. */
  port_range: [number, number]
  /** nf_conntrack_tcp_timeout_time_wait on the NAT box, seconds (kernel default 120). */
  conntrack_time_wait: number
  /** How the NAT picks ports (default preserve). */
  port_mode: NatPortMode
  /** The NAT box's kernel when known ("6.1"): 6.5+ evicts closing conntrack entries. */
  kernel?: string
}

export interface Flow {
  name: string
  role: Role
  /** ip:port of the server endpoint (for role server: the local listener). */
  peer: string
  /** New connections per second in this flow, sustained. */
  qps: number
  closes_first: Closer
  keepalive: boolean
  /** Source addresses the connections come from, as the server sees them. */
  client_addresses: number
  /** Distinct hosts behind those addresses; > 1 means NAT or a proxy. */
  senders: number
  /** Server ip:port pairs the flow is spread over. */
  server_endpoints: number
  /** Role server/nat: the clients' port range when known. */
  client_port_range?: [number, number]
  nat?: NatSpec
  /** Role server/nat: the clients' kernel ("6.18.20"), for their timestamp offsets and SYN resend. */
  client_kernel?: string
  /** Role server/nat: the clients' net.ipv4.tcp_timestamps (0, 1, 2) when known. */
  client_timestamps?: 0 | 1 | 2
  /** Share of connects this flow may stall (fail or take over 500 ms); default HARM_BUDGET. */
  harm_budget?: number
}

export interface Waiver {
  id: string
  flow?: string
  reason: string
}

export interface Topology {
  /** Where it was loaded from, for messages. */
  file: string
  host?: string
  kernel?: string
  waivers: Waiver[]
  flows: Flow[]
  /** 1-based line of each flow in the file, for SARIF locations and messages. */
  flowLines?: number[]
  /** 1-based line of each waiver, for errors about them. */
  waiverLines?: number[]
}

export const FLOW_DEFAULTS = {
  keepalive: false,
  client_addresses: 1,
  senders: 1,
  server_endpoints: 1,
} as const

export const NAT_DEFAULTS = {
  // nf_conntrack_tcp_timeout_time_wait default: 120 s (KERNEL.md, NAT gateways).
  conntrack_time_wait: 120,
  port_mode: 'preserve',
} as const
