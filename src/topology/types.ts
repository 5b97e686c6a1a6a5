/** The topology file, as users write it (field names are public: keep them). */
export type Role = 'client' | 'server' | 'nat'
export type Closer = 'server' | 'client'

export interface NatSpec {
  /** SNAT source port pool, inclusive. */
  port_range: [number, number]
  /** nf_conntrack_tcp_timeout_time_wait on the NAT box, seconds (kernel default 120). */
  conntrack_time_wait: number
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

/**
 * The `host:` label, as schema/topology.schema.json says (keep the two equal): it is copied into
 * reports and into the header of every generated file, so it is an identifier, not free text.
 */
export const HOST_LABEL = /^[A-Za-z0-9][A-Za-z0-9 _.:@/+()-]{0,252}$/
export const HOST_LABEL_HELP = 'letters, digits, space and _.:@/+()-, starting with a letter or digit, at most 253 characters'

export const FLOW_DEFAULTS = {
  keepalive: false,
  client_addresses: 1,
  senders: 1,
  server_endpoints: 1,
} as const

export const NAT_DEFAULTS = {
  // nf_conntrack_tcp_timeout_time_wait default: 120 s (docs/kernel.md, NAT gateways).
  conntrack_time_wait: 120,
} as const
