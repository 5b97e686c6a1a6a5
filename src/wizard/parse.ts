import {isIP} from 'node:net'

import {parsePeer} from '../topology/peer.js'
import type {Parsed} from './prompts.js'

/**
 * Parsers for the wizard's typed answers. Each returns the value or the reason it is refused,
 * in words that say what to type instead; the prompt re-asks with that reason. They accept
 * only what the topology schema accepts, so a finished wizard always writes a loadable file.
 */
const ok = <T>(value: T): Parsed<T> => ({ok: true, value})
const no = <T>(reason: string): Parsed<T> => ({ok: false, reason})

/** The schema's flow name pattern (schema/topology.schema.json, definitions.flow.name). */
const NAME = /^[A-Za-z0-9_.-]+$/
/** The schema's peer pattern: a bracketed IPv6 address or a plain host, then a port. */
const PEER = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$/

export function parseFlowName(raw: string, taken: readonly string[]): Parsed<string> {
  const name = raw.trim()
  if (name === '') return no('give the flow a name, e.g. api-to-php')
  if (!NAME.test(name)) return no('use letters, digits, ".", "_" and "-" only')
  if (taken.includes(name)) return no(`"${name}" is already used by another flow`)
  return ok(name)
}

/** A flow name from its peer: "10.0.1.10:80" -> "to-10.0.1.10-80", unique among `taken`. */
export function suggestFlowName(role: string, peer: string, taken: readonly string[]): string {
  const prefix = role === 'client' ? 'to' : role === 'server' ? 'on' : 'via'
  const base = `${prefix}-${peer.replace(/[^A-Za-z0-9_.]+/g, '-').replace(/^-+|-+$/g, '')}`
  let name = base
  for (let n = 2; taken.includes(name); n++) name = `${base}-${n}`
  return name
}

/** ip:port with a literal IP (a name may resolve to several addresses, each its own tuple space). */
export function parsePeerAnswer(raw: string): Parsed<string> {
  const peer = raw.trim()
  if (peer === '') return no('type the ip:port, e.g. 10.0.1.10:80 or [2001:db8::1]:443')
  if (!peer.startsWith('[') && (peer.match(/:/g) ?? []).length > 1) {
    return no('put an IPv6 address in brackets: [2001:db8::1]:443')
  }
  let host: string
  try {
    host = parsePeer(peer).host
  } catch {
    return no(`"${peer}" is not ip:port with a port 1-65535, e.g. 10.0.1.10:80`)
  }
  if (isIP(host) === 0) return no(`"${host}" is not an IP address; use the address the connections go to (a name can resolve to several)`)
  if (!PEER.test(peer)) return no(`"${peer}" is not ip:port, e.g. 10.0.1.10:80`)
  return ok(peer)
}

function asNumber(raw: string): number {
  const t = raw.trim().replace(/[_,](?=\d{3}\b)/g, '')
  return t === '' ? NaN : Number(t)
}

/** New connections per second: a number above 0 ("1,200" and "1_200" read as 1200). */
export function parseQps(raw: string): Parsed<number> {
  const n = asNumber(raw)
  if (!Number.isFinite(n)) return no('type a number of new connections per second, e.g. 600')
  if (n <= 0) return no('must be above 0: a flow with no new connections has no TIME_WAIT to model')
  return ok(n)
}

/** A count of addresses, endpoints or hosts: a whole number, at least `min`. */
export function parseCount(raw: string, min = 1, what = 'a count'): Parsed<number> {
  const n = asNumber(raw)
  if (!Number.isFinite(n) || !Number.isInteger(n)) return no(`type ${what} as a whole number, e.g. ${Math.max(min, 1)}`)
  if (n < min) return no(`must be at least ${min}`)
  return ok(n)
}

/** Seconds, a whole number >= 1 (nf_conntrack_tcp_timeout_time_wait). */
export function parseSeconds(raw: string): Parsed<number> {
  const n = asNumber(raw.replace(/\s*s$/, ''))
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < 1) return no('type whole seconds, at least 1, e.g. 120')
  return ok(n)
}

/** "32768 60999", "32768-60999", "32768,60999" or "[32768, 60999]": ports 1-65535, low <= high. */
export function parsePortRange(raw: string): Parsed<[number, number]> {
  const parts = raw
    .trim()
    .replace(/^\[|\]$/g, '')
    .split(/\s*[-–,\s]\s*/)
    .filter((p) => p !== '')
  if (parts.length !== 2) return no('type the low and high port, e.g. 32768-60999')
  const [lo, hi] = parts.map(Number) as [number, number]
  if (![lo, hi].every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) return no('ports are whole numbers from 1 to 65535')
  if (lo > hi) return no(`the low end (${lo}) is above the high end (${hi})`)
  return ok([lo, hi])
}

/** Like parsePortRange, but blank means "not known". */
export function parseOptionalPortRange(raw: string): Parsed<[number, number] | undefined> {
  if (raw.trim() === '' || /^(-|none|unknown)$/i.test(raw.trim())) return ok(undefined)
  return parsePortRange(raw)
}

export function formatRange(r: readonly [number, number]): string {
  return `${r[0]}-${r[1]}`
}

/** A kernel version as the topology schema takes it ("6.1", "6.18.20"); empty for unknown. */
export function parseOptionalKernel(raw: string): Parsed<string | undefined> {
  const v = raw.trim()
  if (v === '' || /^(-|none|unknown)$/i.test(v)) return ok(undefined)
  if (!/^[0-9]+\.[0-9]+(\.[0-9]+)?$/.test(v)) return no('a kernel version like 6.1 or 6.18.20, or empty if unknown')
  return ok(v)
}
