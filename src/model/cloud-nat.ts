import type {Flow, NatKind} from '../topology/types.js'
import {REMEDY_HEADROOM} from './constants.js'
import type {FlowModel} from './types.js'

/**
 * Cloud NAT gateways: no conntrack to tune and no eviction, but a published quota. A closed TCP
 * connection keeps its slot for the gateway's TIME_WAIT, so toward one destination (ip:port) a
 * gateway sustains quota × units / hold new connections per second, per destination endpoint
 * (all three gateways reuse a slot at once toward a different destination).
 */
export interface CloudNatQuota {
  /** What one unit gets: ports per VM / instance, or connections per NAT address. */
  quota: number
  /** What the quota is counted per. */
  unit: 'vm' | 'nat-address' | 'instance'
  holdSeconds: number
  /** True when the hold time is not published and we assume it. */
  holdAssumed: boolean
}

/**
 * Google Cloud NAT: 64 ports per VM by default (min_ports_per_vm), and a closed TCP connection
 * holds its NAT port for tcp_time_wait_timeout_sec, 120 s by default.
 * https://cloud.google.com/nat/docs/ports-and-addresses (port reservation, default 64)
 * https://cloud.google.com/nat/docs/tune-nat-configuration (NAT timeouts: TCP TIME_WAIT 120 s)
 */
export const GCP_DEFAULT_PORTS_PER_VM = 64
export const GCP_DEFAULT_TCP_TIME_WAIT_SECONDS = 120

/**
 * AWS NAT gateway: up to 55,000 simultaneous connections to each unique destination per NAT
 * gateway address (ErrorPortAllocation past it).
 * https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html
 * AWS does not publish how long a closed connection keeps its slot: we assume 120 s (like
 * conntrack's TIME_WAIT) and say so; a topology can declare nat.time_wait_seconds.
 */
export const AWS_CONNECTIONS_PER_DESTINATION = 55_000
export const AWS_ASSUMED_HOLD_SECONDS = 120

/**
 * Azure Load Balancer outbound SNAT, default port allocation by backend pool size (instances):
 * up to 50 -> 1,024 ports each, 100 -> 512, 200 -> 256, 400 -> 128, 800 -> 64, 1,000 -> 32.
 * https://learn.microsoft.com/azure/load-balancer/load-balancer-outbound-connections (default port allocation)
 * The hold after close is not published as one number; we assume 240 s (the 4-minute default
 * idle timeout) and say so; a topology can declare nat.time_wait_seconds.
 */
export const AZURE_DEFAULT_PORTS_BY_POOL: readonly [maxInstances: number, ports: number][] = [
  [50, 1024],
  [100, 512],
  [200, 256],
  [400, 128],
  [800, 64],
  [1000, 32],
]
export const AZURE_ASSUMED_HOLD_SECONDS = 240

export function azureDefaultPorts(instances: number): number {
  for (const [max, ports] of AZURE_DEFAULT_PORTS_BY_POOL) if (instances <= max) return ports
  return AZURE_DEFAULT_PORTS_BY_POOL[AZURE_DEFAULT_PORTS_BY_POOL.length - 1]![1]
}

export function isCloudNat(kind: NatKind | undefined): kind is Exclude<NatKind, 'linux'> {
  return kind !== undefined && kind !== 'linux'
}

/** The quota of a cloud NAT for one flow; null for a Linux NAT (conntrack, src/model/flow.ts). */
export function cloudNatQuota(flow: Flow): CloudNatQuota | null {
  const nat = flow.nat
  if (!nat || !isCloudNat(nat.kind)) return null
  switch (nat.kind) {
    case 'gcp-cloud-nat':
      return {
        quota: nat.ports_per_vm ?? GCP_DEFAULT_PORTS_PER_VM,
        unit: 'vm',
        holdSeconds: nat.time_wait_seconds ?? GCP_DEFAULT_TCP_TIME_WAIT_SECONDS,
        holdAssumed: false,
      }
    case 'aws-nat-gateway':
      return {
        quota: AWS_CONNECTIONS_PER_DESTINATION,
        unit: 'nat-address',
        holdSeconds: nat.time_wait_seconds ?? AWS_ASSUMED_HOLD_SECONDS,
        holdAssumed: nat.time_wait_seconds === undefined,
      }
    case 'azure-lb-outbound':
      return {
        quota: nat.ports_per_instance ?? azureDefaultPorts(flow.senders),
        unit: 'instance',
        holdSeconds: nat.time_wait_seconds ?? AZURE_ASSUMED_HOLD_SECONDS,
        holdAssumed: nat.time_wait_seconds === undefined,
      }
  }
}

/** Units the quota is multiplied by: VMs / instances are the senders, NAT addresses the client addresses. */
function units(flow: Flow, q: CloudNatQuota): number {
  return q.unit === 'nat-address' ? flow.client_addresses : flow.senders
}

/** Fill a flow model's cloud-NAT fields (and its safe rate) from the gateway's quota. */
export function applyCloudNat(flow: Flow, m: FlowModel): void {
  m.natKind = flow.nat ? (flow.nat.kind ?? 'linux') : null
  const q = cloudNatQuota(flow)
  if (!q) return
  const u = units(flow, q)
  const capacity = (q.quota * u * flow.server_endpoints) / q.holdSeconds
  const slotsNeeded = flow.qps * (1 + REMEDY_HEADROOM) * q.holdSeconds
  m.cloudNatQuota = q.quota
  m.cloudNatHoldSeconds = q.holdSeconds
  m.cloudNatQuotaUnits = u
  m.cloudNatCapacityQps = capacity
  m.cloudNatExhausted = flow.qps > capacity + 1e-9
  m.cloudNatQuotaNeeded = m.cloudNatExhausted ? Math.ceil(slotsNeeded / (u * flow.server_endpoints)) : null
  m.cloudNatUnitsNeeded = m.cloudNatExhausted ? Math.ceil(slotsNeeded / (q.quota * flow.server_endpoints)) : null
  // A cloud gateway is not a Linux NAT: its limit is the quota, not conntrack and eviction.
  m.natExhausted = false
  m.natCapacityQps = capacity
  if (m.safeQps === null || capacity < m.safeQps) {
    m.safeQps = capacity
    m.targetQps = capacity / (1 + REMEDY_HEADROOM)
    m.margin = flow.qps / capacity
  }
}
