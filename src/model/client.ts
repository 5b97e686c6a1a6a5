/**
 * Client port exhaustion (docs/kernel.md "Client"). When the client closes first it holds each
 * 4-tuple in TIME_WAIT; toward one (source ip, destination ip:port) connect() then finds a free
 * port only while fewer than `ports` are held. Held for `holdSeconds` (60 s, or about
 * tcp_tw_reuse_delay with tcp_tw_reuse=1 and timestamps), the space sustains ports / hold new
 * connections per second; beyond that the excess fails at once with EADDRNOTAVAIL.
 * Worked example: 1,000 ports held 60 s sustain 16.7/s; at 200/s, 1 − 16.7/200 = 91.7 % fail.
 */
export function exhaustionShare(qps: number, ports: number, holdSeconds: number): number {
  const capacity = ports / holdSeconds
  return qps > capacity ? 1 - capacity / qps : 0
}
