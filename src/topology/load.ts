import {LineCounter, parseDocument, isAlias, isMap, isSeq, isScalar, visit, type Node} from 'yaml'

import {TwError} from '../errors.js'
import {parsePeer} from './peer.js'
import {nearest} from '../util/nearest.js'
import {shown} from '../util/text.js'
import {MAX_TOPOLOGY_BYTES, readRegularText} from '../util/input-file.js'
import {CLOUD_NAT_PORT_RANGE, FLOW_DEFAULTS, HOST_LABEL_HELP, NAT_DEFAULTS, type Flow, type NatSpec, type Topology} from './types.js'
// Generated at build time from schema/topology.schema.json (scripts/postbuild.js).
import validateTopology from '../generated/validate-topology.js'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {PACKAGE_ROOT} from '../util/paths.js'

type Path = (string | number)[]

/** Alias expansions a topology may use (the yaml default, 100, also counts ordinary reuse). */
const MAX_ALIAS_EXPANSIONS = 1000

interface ValidationError {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

export async function loadTopologyFile(file: string): Promise<Topology> {
  // A regular file only (a FIFO or a device would block or never end), of a bounded size.
  const text = await readRegularText(file, 'topology.read', 'topology', MAX_TOPOLOGY_BYTES)
  return parseTopology(text, file)
}

/**
 * Parse and validate in one step; either the whole topology comes back or a TwError with the
 * file, line, column and field of the first problem. Nothing is half-loaded.
 */
export function parseTopology(text: string, file: string): Topology {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {file}
    const p = lineCounter.linePos(offset)
    return {file, line: p.line, col: p.col}
  }
  const first = doc.errors[0]
  if (first) {
    // yaml's messages for these two name its own API; say what is wrong with the file instead.
    const message =
      first.code === 'MULTIPLE_DOCS'
        ? 'holds more than one YAML document; a topology is one document (remove the "---" line)'
        : first.message.split('\n')[0]!
    throw new TwError('topology.yaml', shown(message, 200), {position: at(first.pos[0])})
  }
  let data: unknown
  try {
    // A topology needs few aliases; a bomb of nested aliases stops here, early.
    data = doc.toJS({maxAliasCount: MAX_ALIAS_EXPANSIONS})
  } catch (error) {
    let firstAlias: Node | undefined
    visit(doc, {
      Alias(_, node) {
        firstAlias = node
        return visit.BREAK
      },
    })
    throw new TwError('topology.yaml', `aliases expand too far (over ${MAX_ALIAS_EXPANSIONS} copies): ${shown((error as Error).message, 80)}`, {
      position: at(firstAlias?.range?.[0]),
      hint: 'write the flows out instead of nesting aliases',
    })
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TwError('topology.shape', 'a topology is a mapping with a "flows" list', {position: {file, line: 1, col: 1}})
  }

  /**
   * The node at a path, following aliases. `where` is the node to point at: the first alias on
   * the way when there is one (the place in the file that uses the anchored value), else the node.
   */
  const resolveAt = (path: Path): {node: Node | undefined; where: Node | undefined} => {
    let node: unknown = doc.contents
    let via: Node | undefined
    for (const seg of path) {
      if (isAlias(node)) {
        via ??= node
        node = node.resolve(doc)
      }
      if (isMap(node)) node = node.items.find((it) => isScalar(it.key) && it.key.value === seg)?.value
      else if (isSeq(node) && typeof seg === 'number') node = node.items[seg]
      else return {node: undefined, where: via}
    }
    if (isAlias(node)) {
      via ??= node
      node = node.resolve(doc)
    }
    const n = node && typeof node === 'object' && 'range' in node ? (node as Node) : undefined
    return {node: n, where: via ?? n}
  }
  const nodeAt = (path: Path): Node | undefined => resolveAt(path).where
  const keyNodeAt = (path: Path, key: string): Node | undefined => {
    const parent = resolveAt(path).node
    if (!isMap(parent)) return undefined
    const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === key)
    return pair && isScalar(pair.key) ? pair.key : undefined
  }

  // YAML reads .inf, .nan and 1e400 as numbers; JSON Schema bounds do not catch NaN.
  const nonFinite = firstNonFinite(data, [])
  if (nonFinite) {
    throw new TwError('topology.invalid', 'must be a finite number', {position: {...at(nodeAt(nonFinite)?.range?.[0]), field: nonFinite.join('.')}})
  }
  if (!validateTopology(data)) {
    const errors = (validateTopology.errors ?? []) as ValidationError[]
    // Prefer the most specific problem: unknown keys first (they explain the rest), then deepest.
    const err = [...errors].sort(
      (a, b) =>
        Number(b.keyword === 'additionalProperties') - Number(a.keyword === 'additionalProperties') ||
        b.instancePath.length - a.instancePath.length,
    )[0]!
    throw schemaError(err, file, (path) => nodeAt(path), keyNodeAt, at)
  }

  const raw = data as Omit<Topology, 'file'>
  // Object.assign rather than {...a, ...b, key}: see the note in rules/engine.ts (evaluation).
  const flows: Flow[] = raw.flows.map((f) => Object.assign({}, FLOW_DEFAULTS, f, {nat: f.nat ? natWithDefaults(f.nat) : undefined}))
  const flowLines = flows.map((_, i) => at(nodeAt(['flows', i])?.range?.[0]).line ?? 1)
  const waiverLines = (raw.waivers ?? []).map((_, i) => at(nodeAt(['waivers', i, 'id'])?.range?.[0]).line ?? 1)
  const topo: Topology = {file, host: raw.host, kernel: raw.kernel, waivers: raw.waivers ?? [], flows, flowLines, waiverLines}
  crossCheck(topo, (path) => at(nodeAt(path)?.range?.[0]))
  return topo
}

/** The path of the first number that is not finite (Infinity, NaN), if any. */
function firstNonFinite(value: unknown, path: Path): Path | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = firstNonFinite(value[i], [...path, i])
      if (p) return p
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = firstNonFinite(v, [...path, k])
      if (p) return p
    }
  }
  return undefined
}

export function natWithDefaults(nat: Partial<NatSpec>): NatSpec {
  const port_range = nat.port_range ?? CLOUD_NAT_PORT_RANGE
  return Object.assign({}, NAT_DEFAULTS, nat, {port_range})
}

function schemaError(
  err: ValidationError,
  file: string,
  nodeAt: (p: Path) => Node | undefined,
  keyNodeAt: (p: Path, key: string) => Node | undefined,
  at: (offset: number | undefined) => {file: string; line?: number; col?: number},
): TwError {
  const path: Path = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')))
  const field = path.join('.') || '(top level)'
  if (err.keyword === 'additionalProperties') {
    const key = String(err.params.additionalProperty)
    const allowed = allowedKeys(path)
    const guess = nearest(key, allowed)
    return new TwError('topology.unknown-key', `unknown key "${key}"`, {
      hint: guess ? `did you mean "${guess}"?` : `valid keys: ${allowed.join(', ')}`,
      position: {...at(keyNodeAt(path, key)?.range?.[0]), field: [...path, key].join('.')},
    })
  }
  if (err.keyword === 'required') {
    const missing = String(err.params.missingProperty)
    return new TwError('topology.missing', `missing required key "${missing}"`, {
      position: {...at(nodeAt(path)?.range?.[0]), field: [...path, missing].join('.')},
    })
  }
  let message = err.message ?? 'is not valid'
  if (err.keyword === 'enum') message = `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
  if (err.keyword === 'pattern' && path[path.length - 1] === 'peer') message = 'must be ip:port, e.g. 10.0.1.10:80'
  if (err.keyword === 'pattern' && path.length === 1 && path[0] === 'kernel') message = 'must be a kernel release such as 6.8 or 6.1.0-18-amd64'
  if (err.keyword === 'pattern' && path[path.length - 1] === 'reason') message = 'must be one line of text without control characters'
  if (err.keyword === 'pattern' && path.length === 1 && path[0] === 'host') message = `must be a host name or short label (${HOST_LABEL_HELP})`
  return new TwError('topology.invalid', message, {position: {...at(nodeAt(path)?.range?.[0]), field}})
}

/** The keys the schema allows at a path (top level, a flow, a flow's nat, a waiver). */
function allowedKeys(path: Path): string[] {
  // Read only on this error path, so a valid file never pays for it.
  const topologySchema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schema', 'topology.schema.json'), 'utf8')) as TopologySchema
  const defs = topologySchema.definitions
  const last = path.filter((p) => typeof p === 'string')
  if (last.length === 0) return Object.keys(topologySchema.properties)
  if (last[0] === 'waivers') return Object.keys(topologySchema.properties.waivers.items.properties)
  if (last[last.length - 1] === 'nat') return Object.keys(defs.flow.properties.nat.properties)
  return Object.keys(defs.flow.properties)
}

/** What a schema cannot say: unique names, range order, waivers naming real flows. */
function crossCheck(topo: Topology, at: (path: Path) => {file: string; line?: number; col?: number}): void {
  const seen = new Set<string>()
  topo.flows.forEach((f, i) => {
    if (seen.has(f.name)) {
      throw new TwError('topology.duplicate', `flow name "${f.name}" is used twice`, {position: {...at(['flows', i, 'name']), field: `flows.${i}.name`}})
    }
    seen.add(f.name)
    try {
      parsePeer(f.peer)
    } catch (error) {
      throw new TwError('topology.invalid', (error as Error).message, {position: {...at(['flows', i, 'peer']), field: `flows.${i}.peer`}})
    }
    const ranges: [Path, [number, number] | undefined][] = [
      [['flows', i, 'client_port_range'], f.client_port_range],
      [['flows', i, 'nat', 'port_range'], f.nat?.port_range],
    ]
    for (const [path, r] of ranges) {
      if (r && r[0] > r[1]) {
        throw new TwError('topology.range', `port range [${r[0]}, ${r[1]}] has its low end above its high end`, {
          position: {...at(path), field: path.join('.')},
        })
      }
    }
    if (f.role === 'nat' && !f.nat) {
      throw new TwError('topology.missing', 'a flow with role nat needs its "nat" pool (port_range, conntrack_time_wait)', {
        position: {...at(['flows', i, 'role']), field: `flows.${i}.nat`},
      })
    }
    if (f.senders < f.client_addresses) {
      throw new TwError('topology.invalid', `senders (${f.senders}) cannot be fewer than client_addresses (${f.client_addresses})`, {
        position: {...at(['flows', i, 'senders']), field: `flows.${i}.senders`},
        hint: 'senders counts the hosts behind the client addresses; use at least one per address',
      })
    }
  })
  topo.waivers.forEach((w, i) => {
    if (w.flow !== undefined && !seen.has(w.flow)) {
      const guess = nearest(w.flow, [...seen])
      throw new TwError('topology.waiver', `waiver names flow "${w.flow}", which is not in this file`, {
        position: {...at(['waivers', i, 'flow']), field: `waivers.${i}.flow`},
        hint: guess ? `did you mean "${guess}"?` : undefined,
      })
    }
  })
}

interface Props {
  properties: Record<string, unknown>
}
interface TopologySchema extends Props {
  properties: {waivers: {items: Props}} & Record<string, unknown>
  definitions: {flow: {properties: {nat: Props} & Record<string, unknown>}}
}
