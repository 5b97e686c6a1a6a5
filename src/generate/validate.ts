import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {valueProblem} from '../facts/values.js'
import {shown} from '../util/text.js'
import type {Plan} from './plan.js'

/**
 * Checks a plan against the kernel it is meant for, before anything is written: every key
 * exists there and every value is one the kernel accepts. Errors name the key; things the
 * kernel accepts but complains about are warnings.
 */
export interface ValidateOptions {
  /**
   * Whether the kernel has a key the facts do not list. A live read only opens the keys the
   * model needs (facts/keys.ts), so the command answers from /proc/sys; a dump is complete.
   */
  keyExists?: (key: string) => boolean
}

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/
const INT = /^-?\d+$/
const INT_MIN = -2_147_483_648
const INT_MAX = 2_147_483_647
const VALUE = /^[\x21-\x7e]+( [\x21-\x7e]+)*$/

function fail(code: string, key: string, message: string, hint?: string): never {
  throw new TwError(code, message, {position: {field: key}, hint})
}

function ints(value: string): number[] | null {
  const parts = value.split(' ')
  return parts.every((p) => INT.test(p)) ? parts.map(Number) : null
}

export function validatePlan(plan: Plan, facts: Facts, opts: ValidateOptions = {}): {warnings: string[]} {
  const warnings: string[] = []
  const kernel = facts.kernel?.raw ?? plan.kernel ?? 'unknown'
  const planned = new Map(plan.entries.map((e) => [e.key, e.value]))

  for (const {key, value} of plan.entries) {
    if (!KEY.test(key)) fail('generate.key', key, 'is not a sysctl key')
    // Printable ASCII fields separated by single spaces: nothing a reader could take as a comment, a line end or a control.
    if (!VALUE.test(value) || /[#;]/.test(value)) fail('generate.value', key, `"${shown(value)}" is not a value a sysctl.d line can carry`)
    const current = facts.sysctls[key]
    if (current === undefined && !(opts.keyExists?.(key) ?? false)) {
      fail('generate.unknown-key', key, `kernel ${kernel} has no such sysctl (source: ${facts.source})`, 'the remedy needs a kernel that has this knob; waive the finding or pick another remedy')
    }
    // The shape of the current value is the kernel's own description of the knob.
    if (current !== undefined) {
      const now = current.split(' ')
      const next = value.split(' ')
      if (now.length !== next.length) {
        fail('generate.value', key, `"${value}" has ${next.length} field(s); the kernel's value "${current}" has ${now.length}`)
      }
      if (ints(current) !== null && ints(value) === null) fail('generate.value', key, `"${value}" is not an integer value like the kernel's "${current}"`)
    }
    // Within what the kernel's handler accepts: the key's own range (facts/values.ts), and for
    // any integer field the C int the proc_dointvec family parses (a larger number is EINVAL).
    const problem = valueProblem(key, value)
    if (problem !== null) fail('generate.value', key, `${problem}; the kernel would refuse it`)
    const fields = ints(value)
    if (fields !== null && fields.some((n) => n < INT_MIN || n > INT_MAX)) fail('generate.value', key, `"${shown(value)}" is outside the kernel's int range`)
  }

  // ip_local_port_range and ip_unprivileged_port_start constrain each other
  // (net/ipv4/sysctl_net_ipv4.c: ipv4_local_port_range, ipv4_privileged_ports; docs/kernel.md).
  const rangeKey = 'net.ipv4.ip_local_port_range'
  const unprivKey = 'net.ipv4.ip_unprivileged_port_start'
  const currentUnpriv = facts.sysctls[unprivKey]
  const plannedUnpriv = planned.get(unprivKey)
  const plannedRange = planned.get(rangeKey)
  if (plannedRange !== undefined) {
    // Its own shape (two integers in 1..65535, low <= high) passed valueProblem in the loop above.
    const [low, high] = ints(plannedRange) as [number, number]
    // The file is applied in key order: the range lands before ip_unprivileged_port_start, so
    // it must clear both the current and the planned privileged-port limit.
    for (const limit of [currentUnpriv, plannedUnpriv]) {
      if (limit !== undefined && INT.test(limit) && low < Number(limit)) {
        fail('generate.value', rangeKey, `low ${low} is below ip_unprivileged_port_start ${limit}; the kernel rejects it (EINVAL)`, 'ports below ip_unprivileged_port_start are privileged and never picked by connect()')
      }
    }
    if (low % 2 === high % 2) {
      warnings.push(`${rangeKey}: "${plannedRange}" has ends of the same parity; the kernel accepts it but logs "ip_local_port_range: prefer different parity for start/end values"`)
    }
  }
  if (plannedUnpriv !== undefined) {
    // An integer in 0..65535: valueProblem in the loop above.
    const p = Number(plannedUnpriv)
    const rangeNow = ints(plannedRange ?? facts.sysctls[rangeKey] ?? '')
    if (rangeNow && rangeNow[0] !== undefined && p > rangeNow[0]) {
      fail('generate.value', unprivKey, `${p} is above the local port range's low end ${rangeNow[0]}; the kernel rejects it (EINVAL)`)
    }
  }
  return {warnings}
}
