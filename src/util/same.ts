/**
 * Equal as a rule or the model sees them: numbers by Object.is (-0 and 0 apart, NaN equal to
 * NaN), objects and arrays key by key in the same order. Stricter than comparing JSON texts.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b ? a !== 0 || Object.is(a, b) : a !== a && b !== b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
