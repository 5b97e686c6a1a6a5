import {TwError} from '../errors.js'

/**
 * Where the lab's commands run. "host": network namespaces on this machine's kernel, the SNAT
 * rule through nftables. "uml-guest": the same lab code running inside a user-mode Linux
 * kernel (src/lab/uml.ts boots it); that kernel (Debian's 6.1) refuses `nft add table ip`, so
 * the SNAT rule goes through iptables-legacy instead. Everything else (namespaces, veth,
 * sysctls, the driver, counters) is the same on both layers.
 *
 * The guest's init script sets TWLAB_LAYER=uml-guest; nothing else sets it.
 */
export type LabLayer = 'host' | 'uml-guest'

export const LAYER_ENV = 'TWLAB_LAYER'

export function currentLayer(env: NodeJS.ProcessEnv = process.env): LabLayer {
  return env[LAYER_ENV] === 'uml-guest' ? 'uml-guest' : 'host'
}

/** The tool that installs the SNAT rule on this layer, and its Debian package. */
export function natTool(layer: LabLayer = currentLayer()): [cmd: string, pkg: string] {
  return layer === 'uml-guest' ? ['iptables-legacy', 'iptables'] : ['nft', 'nftables']
}

/** One SNAT rule as the lab declares it (parsed back from the nftables ruleset). */
export interface SnatRule {
  oif: string
  saddr: string | null
  /** null: masquerade (the interface's address). */
  to: string | null
  ports: [number, number] | null
  flags: ('random' | 'fully-random' | 'persistent')[]
}

/**
 * Read the SNAT rules out of the lab's nftables ruleset (src/lab/plan.ts natRuleset): lines of
 * `oifname "X" [ip saddr A] [ip protocol tcp] (snat to B[:lo-hi] | masquerade [to :lo-hi]) [flags]`.
 * Anything else in a rule line is refused, so a new kind of rule cannot be silently dropped on
 * the guest layer.
 */
export function parseSnatRules(ruleset: string): SnatRule[] {
  const rules: SnatRule[] = []
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim()
    if (!/\b(snat|masquerade)\b/.test(line)) continue
    const m =
      /^oifname "([\w.-]+)"(?: ip saddr ([\d.]+(?:\/\d+)?))?(?: ip protocol tcp)? (?:snat (?:ip )?to ([\d.]+)(?::(\d+)-(\d+))?|masquerade(?: to :(\d+)-(\d+))?)((?:\s*,?\s*(?:random|fully-random|persistent))*)\s*;?$/.exec(
        line,
      )
    if (!m) throw new TwError('lab.nat', `the user-mode Linux layer cannot translate this SNAT rule to iptables: ${line}`)
    const lo = m[4] ?? m[6]
    const hi = m[5] ?? m[7]
    const flags = (m[8] ?? '')
      .split(/[\s,]+/)
      .filter(Boolean) as SnatRule['flags']
    rules.push({oif: m[1]!, saddr: m[2] ?? null, to: m[3] ?? null, ports: lo && hi ? [Number(lo), Number(hi)] : null, flags})
  }
  return rules
}

/** iptables-legacy argument lists for the rules (nat table, POSTROUTING, tcp only). */
export function iptablesCommands(rules: SnatRule[]): string[][] {
  return rules.map((r) => {
    const args = ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', r.oif]
    if (r.saddr) args.push('-s', r.saddr)
    args.push('-p', 'tcp')
    const ports = r.ports ? `${r.ports[0]}-${r.ports[1]}` : null
    if (r.to) args.push('-j', 'SNAT', '--to-source', ports ? `${r.to}:${ports}` : r.to)
    else args.push('-j', 'MASQUERADE', ...(ports ? ['--to-ports', ports] : []))
    for (const f of r.flags) args.push(f === 'fully-random' ? '--random-fully' : `--${f}`)
    return args
  })
}

/**
 * Install the lab's SNAT ruleset in a namespace, on this layer. `runIn` is the lab's
 * command runner (system.ts), passed in so this file stays free of process handling.
 */
export async function applyNat(ns: string, ruleset: string, runIn: (ns: string, args: string[], o?: {input?: string}) => Promise<string>, layer: LabLayer = currentLayer()): Promise<void> {
  if (layer === 'host') {
    await runIn(ns, ['nft', '-f', '-'], {input: ruleset})
    return
  }
  for (const args of iptablesCommands(parseSnatRules(ruleset))) await runIn(ns, ['iptables-legacy', ...args])
}
