import type {Flow} from './types.js'

/**
 * A remedy's change to a flow, applied to a copy: dotted keys reach into nested fields
 * ("nat.port_range"). The rules engine re-runs the model with it; the lab rebuilds it.
 */
export function patchFlow(flow: Flow, patch: Record<string, unknown>): Flow {
  const out = structuredClone(flow) as unknown as Record<string, unknown>
  for (const [key, value] of Object.entries(patch)) {
    const parts = key.split('.')
    let obj = out
    for (const p of parts.slice(0, -1)) {
      if (typeof obj[p] !== 'object' || obj[p] === null) obj[p] = {}
      obj = obj[p] as Record<string, unknown>
    }
    obj[parts[parts.length - 1]!] = value
  }
  return out as unknown as Flow
}
