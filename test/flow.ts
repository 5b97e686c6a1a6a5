// One way for tests to make a flow: the topology defaults plus what the test says. A test's NAT
// gets the loader's NAT defaults (port_mode preserve, conntrack 120 s) for what it leaves out, so
// no test runs the model on a NAT the loader could never produce (port_mode undefined).
import {FLOW_DEFAULTS, NAT_DEFAULTS, type Flow, type NatSpec} from '../src/topology/types.js'

export type TestNat = Partial<NatSpec> & Pick<NatSpec, 'port_range'>
export type TestFlow = Omit<Partial<Flow>, 'nat'> & {nat?: TestNat}

export function makeFlow(over: TestFlow = {}): Flow {
  const {nat, ...rest} = over
  return {...FLOW_DEFAULTS, name: 'f', role: 'client', peer: '198.18.0.2:80', qps: 100, closes_first: 'server', ...rest, ...(nat ? {nat: {...NAT_DEFAULTS, ...nat}} : {})}
}
