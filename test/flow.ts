// One way for tests to make a flow: the topology defaults plus what the test says.
import {FLOW_DEFAULTS, type Flow} from '../src/topology/types.js'

export function makeFlow(over: Partial<Flow> = {}): Flow {
  return {...FLOW_DEFAULTS, name: 'f', role: 'client', peer: '198.18.0.2:80', qps: 100, closes_first: 'server', ...over}
}
