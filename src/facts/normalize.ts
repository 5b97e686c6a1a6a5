/** Key and value normalisation shared by every source (dump, /proc/sys, netns). */

/** net/ipv4/tcp_tw_reuse or net.ipv4.tcp_tw_reuse -> net.ipv4.tcp_tw_reuse. */
export function normalizeKey(key: string): string {
  return key.trim().replace(/\//g, '.')
}

/** Collapse tabs and runs of spaces inside multi-value keys (ip_local_port_range prints a tab). */
export function normalizeValue(value: string): string {
  return value.trim().split(/\s+/).join(' ')
}
