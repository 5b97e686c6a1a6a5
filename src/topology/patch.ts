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

/**
 * The patch as a key that tells apart every patch JSON.stringify can (plain data: finite numbers
 * other than -0, strings, booleans, null, arrays without holes, plain objects); undefined for
 * any other patch, which is then applied afresh.
 */
function patchKey(patch: Record<string, unknown>): string | undefined {
  return plain(patch) ? JSON.stringify(patch) : undefined
}

function plain(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0)
    case 'object': {
      if (v === null) return true
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!(i in v) || !plain(v[i])) return false
        return true
      }
      if (Object.getPrototypeOf(v) !== Object.prototype || Object.getOwnPropertySymbols(v).length > 0) return false
      for (const x of Object.values(v)) if (!plain(x)) return false
      return true
    }
    default:
      return false
  }
}
