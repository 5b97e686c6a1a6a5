/** "10.0.1.10:80" or "[2001:db8::1]:443" -> {host, port}. */
export function parsePeer(peer: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(peer)
  const port = m ? Number(m[3]) : NaN
  if (!m || port < 1 || port > 65535) throw new Error(`"${peer}" is not ip:port (port 1-65535)`)
  return {host: (m[1] ?? m[2])!, port}
}
