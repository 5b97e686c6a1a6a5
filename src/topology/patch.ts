import type {Flow} from './types.js'

/**
 * A remedy's change to a flow, applied to a copy: dotted keys reach into nested fields
 * ("nat.port_range"). The rules engine re-runs the model with it; the lab rebuilds it.
 * Copy on write: the objects on a patched key's path are copied, everything else is shared
 * with `flow`, which stays as it was (flows are never mutated after loading).
 */
export function patchFlow(flow: Flow, patch: Record<string, unknown>): Flow {
  const out: Record<string, unknown> = {...flow}
  for (const [key, value] of Object.entries(patch)) {
    const parts = key.split('.')
    let obj = out
    for (const p of parts.slice(0, -1)) {
      const next = obj[p]
      obj = obj[p] = typeof next === 'object' && next !== null ? {...(next as Record<string, unknown>)} : {}
    }
    obj[parts[parts.length - 1]!] = value
  }
  return out as unknown as Flow
}
