/** The topology file, as users write it (field names are public: keep them). */
export type Role = 'client' | 'server' | 'nat'
export type Closer = 'server' | 'client'

/** What the NAT is: a Linux box (conntrack, eviction by its kernel) or a cloud gateway with a published quota. */
export type NatKind = 'linux' | 'gcp-cloud-nat' | 'aws-nat-gateway' | 'azure-lb-outbound'

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

/**
 * A cloud NAT gateway has no port range to declare (its quota is the limit, src/model/cloud-nat.ts):
 * the model still needs one for the server's view of the source ports, so it gets the whole
 * unprivileged range.
 */
export const CLOUD_NAT_PORT_RANGE: [number, number] = [1024, 65535]
