/** The topology file, as users write it (field names are public: keep them). */
export type Role = 'client' | 'server' | 'nat'
export type Closer = 'server' | 'client'

/** What the NAT is: a Linux box (conntrack, eviction by its kernel) or a cloud gateway with a published quota. */
export type NatKind = 'linux' | 'gcp-cloud-nat' | 'aws-nat-gateway' | 'azure-lb-outbound'

/**
 * How the NAT picks the source port the server sees (nf_nat_core.c, docs/kernel.md "NAT"):
 * - preserve: Linux SNAT/masquerade's default, keeps the sender's port when that tuple is free
 *   and inside port_range, remaps into the range otherwise;
 * - random: NF_NAT_RANGE_PROTO_RANDOM, a port from the range on every new connection;
 * - fully-random: NF_NAT_RANGE_PROTO_RANDOM_FULLY (kube-proxy's masquerade), the same for us.
 */
export type NatPortMode = 'preserve' | 'random' | 'fully-random'

export interface NatSpec {
  /** SNAT source port pool, inclusive (for cloud kinds: filled in, the gateway's own limit applies). */
  port_range: [number, number]
  /** nf_conntrack_tcp_timeout_time_wait on the NAT box, seconds (kernel default 120). */
  conntrack_time_wait: number
  /** Default linux. */
  kind?: NatKind
  /** gcp-cloud-nat: min ports per VM (default 64); with dynamic allocation, its max ports per VM. */
  ports_per_vm?: number
  /** azure-lb-outbound: SNAT ports per instance (default from the backend pool size). */
  ports_per_instance?: number
  /** Cloud kinds: how long a closed TCP connection keeps its port (GCP: tcp_time_wait_timeout_sec). */
  time_wait_seconds?: number

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
  /** Role client: the application binds (ip, 0) before connect() without IP_BIND_ADDRESS_NO_PORT. */
  bind_before_connect?: boolean
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
  port_mode: 'preserve',
} as const

/**
 * A NAT without a declared range: Linux SNAT with no range takes ports from 1024–65535
 * (nf_nat_core.c, docs/kernel.md#nat); a cloud NAT gateway has no range to declare (its quota is
 * the limit, src/model/cloud-nat.ts), and the model still needs one for the server's view.
 */
export const CLOUD_NAT_PORT_RANGE: [number, number] = [1024, 65535]
