import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {parseKernel} from '../../src/facts/kernel.js'
import {factHolds, KERNEL_FACTS, type FactId} from '../../src/facts/kernel-facts.js'

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'kernel.md'), 'utf8')
const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
const k = (v: string) => parseKernel(v)

/** Rows of docs/kernel.md's table: id -> {since, backports}. */
function docRows(): Map<string, {since: string; backports: string[]}> {
  const rows = new Map<string, {since: string; backports: string[]}>()
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`([a-z0-9_]+)`\s*\|[^|]*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|/.exec(line)
    if (!m) continue
    const backports = [...m[3]!.matchAll(/\b(\d+\.\d+\.\d+)\b/g)].map((x) => x[1]!)
    rows.set(m[1]!, {since: m[2]!.trim(), backports})
  }
  return rows
}

describe('the kernel facts table and docs/kernel.md agree', () => {
  const rows = docRows()
  it('same ids', () => {
    expect([...rows.keys()].sort()).toEqual(KERNEL_FACTS.map((f) => f.id).sort())
  })
  for (const f of KERNEL_FACTS) {
    it(`${f.id}: same version and backports`, () => {
      const row = rows.get(f.id)!
      const until = 'until' in f ? f.until : undefined
      expect(row.since).toBe(until ? `${f.since} to ${until}` : f.since)
      expect(row.backports).toEqual('backports' in f ? [...f.backports] : [])
    })
  }
  it('the README table names every fact\'s version', () => {
    for (const f of KERNEL_FACTS) expect(readme, f.id).toContain(f.since)
  })
})

describe('factHolds', () => {
  it('starts at the mainline version', () => {
    expect(factHolds('ip_bind_address_no_port', k('4.1.52'))).toBe(false)
    expect(factHolds('ip_bind_address_no_port', k('4.2.0'))).toBe(true)
    expect(factHolds('paws_timewait_counter', k('6.15.9'))).toBe(false)
    expect(factHolds('paws_timewait_counter', k('6.16.0'))).toBe(true)
  })
  it('holds on a backport line at or above the backport, not below it nor on other lines', () => {
    expect(factHolds('ts_offset_per_tuple', k('6.12.93'))).toBe(false)
    expect(factHolds('ts_offset_per_tuple', k('6.12.94'))).toBe(true)
    expect(factHolds('ts_offset_per_tuple', k('6.13.5'))).toBe(false)
    expect(factHolds('ts_offset_per_tuple', k('6.18.44'))).toBe(true)
    expect(factHolds('port_random_increments', k('5.15.40'))).toBe(false)
    expect(factHolds('port_random_increments', k('5.15.41-generic'))).toBe(true)
  })
  it('a removed feature holds before its removal only', () => {
    expect(factHolds('tw_recycle', k('3.10.0-1160.el7.x86_64'))).toBe(true)
    expect(factHolds('tw_recycle', k('4.12.0'))).toBe(false)
  })
  it('an unknown kernel is taken as current mainline', () => {
    const ids: FactId[] = ['tw_reuse_loopback', 'nat_evicts_closing', 'ts_offset_per_tuple']
    for (const id of ids) expect(factHolds(id, null)).toBe(true)
    expect(factHolds('tw_recycle', null)).toBe(false)
  })
})
