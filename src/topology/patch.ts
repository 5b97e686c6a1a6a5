import type {Flow} from './types.js'

/**
 * Patched copies by flow and patch: a remedy's change is applied by its re-check, then again by
 * judgement on the whole host; one object for both lets the model's per-flow caches (the safe
 * rate's bisection, predict.ts) serve both.
 */
const patched = new WeakMap<Flow, Map<string, Flow>>()

/**
 * A remedy's change to a flow, applied to a copy: dotted keys reach into nested fields
 * ("nat.port_range"). The rules engine re-runs the model with it; the lab rebuilds it.
 * Copy on write: the objects on a patched key's path are copied, everything else is shared
 * with `flow`, which stays as it was (flows are never mutated after loading). The same flow and
 * patch give the same copy (treat it as read-only, as every flow).
 */
export function patchFlow(flow: Flow, patch: Record<string, unknown>): Flow {
  const key = patchKey(patch)
  if (key === undefined) return applyPatch(flow, patch)
  let byPatch = patched.get(flow)
  if (!byPatch) patched.set(flow, (byPatch = new Map()))
  let out = byPatch.get(key)
  if (!out) byPatch.set(key, (out = applyPatch(flow, patch)))
  return out
}

function applyPatch(flow: Flow, patch: Record<string, unknown>): Flow {
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

/** The patch as a key that tells apart every patch JSON can; undefined for what it cannot (-0, NaN, ±Infinity, undefined, objects not plain data). */
function patchKey(patch: Record<string, unknown>): string | undefined {
  let plain = true
  const key = JSON.stringify(patch, (_k, v: unknown) => {
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) plain = false
    else if (v === undefined || typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol') plain = false
    else if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype) plain = false
    return v
  })
  return plain ? key : undefined
}
