import type {Discovery, DiscoveredFlow} from './infer.js'

/**
 * The discovery as a topology file `check -t` loads unchanged: every inferred field with its
 * evidence and confidence as the comment above it, what could not be inferred said so.
 */
const FIELD_ORDER = ['name', 'role', 'peer', 'qps', 'closes_first', 'keepalive', 'client_addresses', 'senders', 'server_endpoints'] as const

/**
 * The harm-model fields (nat.port_mode, client_kernel, ...) the topology schema does not take
 * yet: today they are comments. When the schema has them, return them here as fields instead.
 */
export function harmModelFields(_f: DiscoveredFlow): Record<string, unknown> {
  return {}
}

const yamlScalar = (v: unknown): string => (typeof v === 'string' ? (/^[A-Za-z0-9_.-]+$/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) ? v : JSON.stringify(v)) : String(v))

function comment(text: string, indent: string): string[] {
  return text.split('\n').map((l) => `${indent}# ${l}`)
}

export function toYaml(d: Discovery, when = new Date()): string {
  const out: string[] = [
    '# yaml-language-server: $schema=https://twadvisor.dev/schema/topology.schema.json',
    `# Written by \`twadvisor discover\` from ${d.source} over ${d.intervalSeconds} s, ${when.toISOString()}.`,
    '# Every value was read from the kernel (sockets, counters); the comment above each says from what',
    '# and how sure. Fields marked "fill in" could not be seen from this host.',
  ]
  for (const n of d.notes) out.push(...comment(n, ''))
  if (d.host) out.push(`host: ${yamlScalar(d.host)}`)
  out.push('flows:')
  for (const f of d.flows) {
    out.push(`  - name: ${yamlScalar(f.flow.name)}`)
    const flow = f.flow as unknown as Record<string, unknown>
    for (const key of FIELD_ORDER.slice(1)) {
      const ev = f.fields[key]
      if (ev) out.push(...comment(`${ev.evidence} [${ev.confidence}]`, '    '))
      out.push(`    ${key}: ${yamlScalar(flow[key])}`)
    }
    for (const [k, v] of Object.entries(harmModelFields(f))) out.push(`    ${k}: ${yamlScalar(v)}`)
    for (const [k, v] of Object.entries(f.extra)) out.push(...comment(`${k}: ${String(v.value)} (${v.evidence}) [${v.confidence}]`, '    '))
    for (const u of f.unknown) out.push(...comment(`fill in ${u.field}: ${u.why}`, '    '))
  }
  if (d.folded.length > 0) {
    // A host talking to thousands of peers gets a line, not a page.
    const shown = d.folded.slice(0, 10).map((x) => `${x.role} ${x.endpoint} (${x.qps}/s)`)
    const more = d.folded.length > 10 ? ` and ${d.folded.length - 10} more` : ''
    out.push(`# Folded, under ${d.floorQps} new connections/s: ${shown.join(', ')}${more}`)
  }
  return out.join('\n') + '\n'
}

export function toJson(d: Discovery): Record<string, unknown> {
  return {
    source: d.source,
    host: d.host,
    interval_seconds: d.intervalSeconds,
    floor_qps: d.floorQps,
    flows: d.flows.map((f) => ({...f.flow, evidence: f.fields, unknown: f.unknown, extra: f.extra})),
    folded: d.folded,
    nat: d.nat,
    notes: d.notes,
  }
}
