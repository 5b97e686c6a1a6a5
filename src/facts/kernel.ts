/** Kernel release parsing and comparison: rules and the model gate facts on these. */
export interface KernelVersion {
  major: number
  minor: number
  patch: number
  raw: string
}

export function parseKernel(raw: string): KernelVersion | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(raw.trim())
  if (!m) return null
  return {major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), raw: raw.trim()}
}

/** The literals compareKernel is called with, parsed once each (the model compares per flow and per bisection step). */
const literals = new Map<string, KernelVersion>()

/** Compare to "a.b[.c]": negative when older, 0 equal, positive when newer. */
export function compareKernel(v: KernelVersion, than: string): number {
  let t = literals.get(than)
  if (!t) {
    const parsed = parseKernel(than)
    if (!parsed) throw new Error(`bad kernel version literal ${than}`)
    literals.set(than, (t = parsed))
  }
  return v.major - t.major || v.minor - t.minor || v.patch - t.patch
}

export function kernelAtLeast(v: KernelVersion | null, than: string): boolean {
  return v !== null && compareKernel(v, than) >= 0
}

/** A number that orders versions, for rule conditions: 6.8.12 -> 6008012. */
export function kernelCode(v: KernelVersion | null): number {
  return v === null ? 0 : v.major * 1_000_000 + v.minor * 1000 + Math.min(v.patch, 999)
}
