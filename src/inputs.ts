import {Flags} from '@oclif/core'

import {TwError} from './errors.js'
import type {Facts} from './facts/types.js'
import type {Topology} from './topology/types.js'

/**
 * The inputs every host-level command shares (check, model, generate, lab): where the sysctls
 * come from and which topology applies. One definition so the flags read the same everywhere.
 */
export const inputFlags = {
  topology: Flags.string({char: 't', description: 'topology file (YAML) declaring the flows', helpValue: 'FILE'}),
  'sysctl-file': Flags.string({char: 's', description: 'a `sysctl -a` dump instead of the live host ("-" reads stdin)', helpValue: 'FILE', exclusive: ['netns']}),
  netns: Flags.string({description: 'read the sysctls inside this network namespace (root)', helpValue: 'NAME', exclusive: ['sysctl-file']}),
  example: Flags.boolean({description: 'use the bundled example of the original incident (examples/incident)', exclusive: ['topology', 'sysctl-file', 'netns']}),
}

/**
 * How the inputs read in a USAGE line. oclif builds one from the flags' `exclusive` lists, which
 * comes out as "[--hosts DIR |  |  |  | [...] | ]]"; the commands state theirs instead.
 */
export const INPUT_USAGE = '(--example | -t FILE [-s FILE | --netns NAME])'

export interface InputFlagValues {
  topology?: string
  'sysctl-file'?: string
  netns?: string
  example?: boolean
}

export interface Inputs {
  facts: Facts
  topology: Topology
}

/** Reads facts and topology as the flags say; every failure is a TwError. */
export async function resolveInputs(flags: InputFlagValues): Promise<Inputs> {
  let topologyFile = flags.topology
  let sysctlFile = flags['sysctl-file']
  if (flags.example) {
    const {join} = await import('node:path')
    const {PACKAGE_ROOT} = await import('./util/paths.js')
    topologyFile = join(PACKAGE_ROOT, 'examples', 'incident', 'topology.yaml')
    sysctlFile = join(PACKAGE_ROOT, 'examples', 'incident', 'sysctl.txt')
  }
  if (!topologyFile) {
    throw new TwError('input.topology', 'no topology given', {
      hint: 'pass --topology FILE (see examples/incident/topology.yaml), --example, or run `twadvisor wizard` to write one',
    })
  }
  const {loadTopologyFile} = await import('./topology/load.js')
  const [topology, facts] = await Promise.all([loadTopologyFile(topologyFile), readFacts(sysctlFile, flags.netns)])
  return {facts, topology}
}

export async function readFacts(sysctlFile?: string, netns?: string): Promise<Facts> {
  if (sysctlFile !== undefined) return (await import('./sources/dump.js')).readDumpFile(sysctlFile)
  if (netns !== undefined) return (await import('./sources/netns.js')).readNetnsFacts(netns)
  return (await import('./sources/proc.js')).readLiveFacts()
}
