import {kernelAtLeast, type KernelVersion} from '../facts/kernel.js'

/**
 * How connect() walks the source-port range, by kernel (KERNEL.md, "Version history"):
 * - sequential: up to 4.1, a global hint with step 1; a port returns every `usable` connects.
 * - parity: 4.2 to 5.17, two passes (the range start's parity first, step 2), a hint that moves
 *   by one slot per connect; a port returns every `firstParity` connects.
 * - parity-random: 5.18+ (backported to LTS kernels from 4.9 in 2022), the per-destination
 *   offset advances 1..8 slots at random; a port returns after `firstParity` connects on
 *   average (the offset advances 4.5 slots per connect on average, so never within about
 *   firstParity / 4.5 connects while the salt holds).
 */
export type PortSelection = 'sequential' | 'parity' | 'parity-random'

export interface PortSelectionInfo {
  selection: PortSelection
  /** True for 4.9–5.17, where the random advance depends on the 2022 LTS backport. */
  assumed: boolean
}

/** portSelection by kernel (the model asks per flow and bisection step); the answers are shared, read-only. */
const selections = new WeakMap<KernelVersion, PortSelectionInfo>()
const UNKNOWN_KERNEL_SELECTION: PortSelectionInfo = Object.freeze({selection: 'parity-random', assumed: true})

export function portSelection(kernel: KernelVersion | null): PortSelectionInfo {
  if (kernel === null) return UNKNOWN_KERNEL_SELECTION
  let sel = selections.get(kernel)
  if (sel === undefined) selections.set(kernel, (sel = Object.freeze(selectionOf(kernel))))
  return sel
}

function selectionOf(kernel: KernelVersion | null): PortSelectionInfo {
  if (kernel === null || kernelAtLeast(kernel, '5.18')) return {selection: 'parity-random', assumed: kernel === null}
  if (kernelAtLeast(kernel, '4.9')) return {selection: 'parity-random', assumed: true}
  if (kernelAtLeast(kernel, '4.2')) return {selection: 'parity', assumed: false}
  return {selection: 'sequential', assumed: false}
}

/** Ports of [low, high] not in the reserved list. */
export function usablePorts(range: [number, number], reserved: [number, number][]): number {
  return countPorts(range, reserved, null)
}

/** Usable ports of the range start's parity: the only ones used while any of them is free. */
export function firstParityPorts(range: [number, number], reserved: [number, number][]): number {
  return countPorts(range, reserved, range[0] % 2)
}

/** Ports of the reserved list that fall inside the range. */
export function reservedInRange(range: [number, number], reserved: [number, number][]): number {
  return Math.max(0, range[1] - range[0] + 1) - usablePorts(range, reserved)
}

/** Ports in [a, b], all of them (parity null) or those of one parity. */
function countIn(a: number, b: number, parity: number | null): number {
  if (b < a) return 0
  if (parity === null) return b - a + 1
  const first = a % 2 === parity ? a : a + 1
  return first > b ? 0 : Math.floor((b - first) / 2) + 1
}

function countPorts(range: [number, number], reserved: [number, number][], parity: number | null): number {
  const lo = range[0]
  const hi = range[1]
  let total = countIn(lo, hi, parity)
  // Nothing reserved (the usual case): no merged copy to build, per flow and bisection step.
  if (reserved.length === 0) return total
  for (const [a, b] of mergedOf(reserved)) total -= countIn(Math.max(a, lo), Math.min(b, hi), parity)
  return total
}

/** mergeRanges once per reserved list (the host's, read per flow and bisection step; lists are not changed once parsed). */
const merged = new WeakMap<[number, number][], [number, number][]>()
function mergedOf(reserved: [number, number][]): [number, number][] {
  let m = merged.get(reserved)
  if (m === undefined) merged.set(reserved, (m = mergeRanges(reserved)))
  return m
}

function mergeRanges(list: [number, number][]): [number, number][] {
  const sorted = [...list].sort((x, y) => x[0] - y[0])
  const out: [number, number][] = []
  for (const [a, b] of sorted) {
    const last = out[out.length - 1]
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b)
    else out.push([a, b])
  }
  return out
}

/**
 * Mean connects toward one (source ip, destination ip:port) before a given source port comes
 * back: `firstParity` under parity selection, `usable` under sequential selection.
 */
export function reuseIntervalConnects(selection: PortSelection, usable: number, firstParity: number): number {
  // With every first-parity port reserved, the second pass serves all connects.
  return selection === 'sequential' || firstParity === 0 ? usable : firstParity
}

/**
 * The share of new connections that land on a 4-tuple still held in TIME_WAIT for `seconds`,
 * at `qps` connects per second toward one tuple space.
 * parity-random: reuse gaps are spread with mean `interval` connects, so the share is
 * 1 − exp(−seconds·qps / interval) (KERNEL.md: 35 % at 100/s on the default range).
 * sequential / parity: the gap is exactly `interval` connects, so every connect collides once
 * interval/qps < seconds, none before.
 */
export function collisionShare(selection: PortSelection, intervalConnects: number, qps: number, seconds: number): number {
  if (qps <= 0 || intervalConnects <= 0) return intervalConnects <= 0 ? 1 : 0
  if (selection === 'parity-random') return 1 - Math.exp((-seconds * qps) / intervalConnects)
  return intervalConnects / qps < seconds ? 1 : 0
}
