/**
 * What a value may look like for each sysctl the model reads (facts/keys.ts RELEVANT_KEYS), as
 * the kernel's own handlers accept it. A dump whose value does not fit is not a dump of a
 * running kernel (or was edited): reading it as 0 or as the default would change verdicts
 * silently, so it is an error naming the line. Keys outside this table are not judged.
 *
 * Ranges, from net/ipv4/sysctl_net_ipv4.c and net/netfilter (torvalds/linux):
 * - ip_local_port_range: ipv4_local_port_range() rejects high < low and low below
 *   ip_unprivileged_port_start; each end is bounded by ip_local_port_range_min/max = 1..65535.
 * - ip_unprivileged_port_start: 0..65535 (ip_privileged_port_min/max); it may not exceed the
 *   range's low end.
 * - tcp_tw_reuse 0..2 (SYSCTL_ZERO..SYSCTL_TWO), tcp_timestamps 0..2 (proc_dou8vec_minmax),
 *   tcp_rfc1337 and the removed tcp_tw_recycle 0..1.
 * - tcp_syn_retries 1..MAX_TCP_SYNCNT (127).
 * - tcp_max_tw_buckets, tcp_fin_timeout, nf_conntrack_*: proc_dointvec family, 0..INT_MAX.
 * - tcp_tw_reuse_delay (6.14): 1..TCP_PAWS_WRAP ms; only its lower bound matters to the model.
 */
export type ValueSpec =
  | {kind: 'int'; min: number; max: number}
  | {kind: 'enum'; values: readonly string[]}
  | {kind: 'port-range'}
  | {kind: 'port-list'}
  | {kind: 'release'}

const INT_MAX = 2_147_483_647

export const VALUE_SPECS: Record<string, ValueSpec> = {
  'kernel.osrelease': {kind: 'release'},
  'net.ipv4.ip_local_port_range': {kind: 'port-range'},
  'net.ipv4.ip_local_reserved_ports': {kind: 'port-list'},
  'net.ipv4.ip_unprivileged_port_start': {kind: 'int', min: 0, max: 65535},
  'net.ipv4.tcp_tw_reuse': {kind: 'enum', values: ['0', '1', '2']},
  'net.ipv4.tcp_tw_reuse_delay': {kind: 'int', min: 1, max: INT_MAX},
  'net.ipv4.tcp_tw_recycle': {kind: 'enum', values: ['0', '1']},
  'net.ipv4.tcp_tw_timeout': {kind: 'int', min: 0, max: INT_MAX},
  'net.ipv4.tcp_timestamps': {kind: 'enum', values: ['0', '1', '2']},
  'net.ipv4.tcp_max_tw_buckets': {kind: 'int', min: 0, max: INT_MAX},
  'net.ipv4.tcp_rfc1337': {kind: 'enum', values: ['0', '1']},
  'net.ipv4.tcp_fin_timeout': {kind: 'int', min: 0, max: INT_MAX},
  'net.ipv4.tcp_syn_retries': {kind: 'int', min: 1, max: 127},
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait': {kind: 'int', min: 0, max: INT_MAX},
  'net.netfilter.nf_conntrack_max': {kind: 'int', min: 0, max: INT_MAX},
}

const BY_LENGTH: (string[] | undefined)[] = []
for (const k of Object.keys(VALUE_SPECS)) (BY_LENGTH[k.length] ??= []).push(k)

/** A plain decimal integer as the kernel prints it: no sign but '-', no hex, no exponent, no blank. */
const DECIMAL = /^-?\d{1,10}$/

function int(text: string, min: number, max: number): string | null {
  if (!DECIMAL.test(text)) return `"${text}" is not a decimal integer`
  const n = Number(text)
  if (n < min || n > max) return `${n} is outside ${min}..${max}`
  return null
}

/**
 * Why `value` (already normalised: single spaces) is not a value `key` can have, or null when it
 * is fine or the key is not one the model reads. `value` is quoted by the caller's escaping.
 */
export function valueProblem(key: string, value: string): string | null {
  // By length, then by string comparison: a dump has ~1,300 keys per copy and hashing each fresh
  // key string for a table lookup costs more than a handful of comparisons that fail at once.
  const sameLength = BY_LENGTH[key.length]
  if (sameLength === undefined || !sameLength.includes(key)) return null
  const spec = VALUE_SPECS[key]!
  switch (spec.kind) {
    case 'int':
      return int(value, spec.min, spec.max)
    case 'enum':
      return spec.values.includes(value) ? null : `"${value}" is not one of ${spec.values.join(', ')}`
    case 'port-range': {
      const parts = value.split(' ')
      if (parts.length !== 2) return `"${value}" is not "LOW HIGH"`
      for (const p of parts) {
        const bad = int(p, 1, 65535)
        if (bad) return bad
      }
      const [low, high] = parts.map(Number) as [number, number]
      return low > high ? `low ${low} is above high ${high} (the kernel refuses such a range)` : null
    }
    case 'port-list': {
      // "", "8080", "8080,9000-9010" (ip_local_reserved_ports, proc_do_large_bitmap).
      if (value === '') return null
      for (const item of value.split(',')) {
        const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item)
        if (!m || Number(m[1]) > 65535 || Number(m[2] ?? m[1]) > 65535 || Number(m[2] ?? m[1]) < Number(m[1])) return `"${item}" is not a port or LOW-HIGH port range`
      }
      return null
    }
    case 'release':
      return /^\d{1,4}\.\d{1,4}(\.\d{1,6})?([-+.~_][\x21-\x7e]*)?$/.test(value) ? null : `"${value}" is not a kernel release (e.g. 6.1.0-18-amd64)`
  }
}
