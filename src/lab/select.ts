import {TwError} from '../errors.js'
import type {Facts} from '../facts/types.js'
import {hostParams, runModel} from '../model/index.js'
import type {Flow, Topology} from '../topology/types.js'
import {nearest} from '../util/nearest.js'

/**
 * The flow the lab rebuilds: the one named, the only one, or else the first the model says
 * breaks (failures or harmful collisions), else the first. Returns why it was chosen.
 */
export function selectFlow(topology: Topology, facts: Facts, name?: string): {flow: Flow; why: string} {
  const flows = topology.flows
  if (name !== undefined) {
    const flow = flows.find((f) => f.name === name)
    if (!flow) {
      const guess = nearest(name, flows.map((f) => f.name))
      throw new TwError('lab.flow', `no flow "${name}" in ${topology.file}`, {
        hint: guess ? `did you mean "${guess}"?` : `flows: ${flows.map((f) => f.name).join(', ')}`,
        position: {field: '--flow'},
      })
    }
    return {flow, why: 'named with --flow'}
  }
  if (flows.length === 1) return {flow: flows[0]!, why: 'the only flow'}
  const models = runModel(hostParams(facts, topology.kernel), flows).flows
  const i = models.findIndex((m) => m.harmful || m.portExhaustion || m.natExhausted)
  if (i >= 0) return {flow: flows[i]!, why: 'the first flow the model says breaks (choose another with --flow)'}
  return {flow: flows[0]!, why: 'the first flow (choose another with --flow)'}
}
