// The minimal host + flow a rule case describes, on top of a current mainline kernel's defaults.
import type {Facts} from '../../src/facts/types.js'
import {parseKernel} from '../../src/facts/kernel.js'
import type {RuleCase} from '../../src/rules/types.js'
import {natWithDefaults} from '../../src/topology/load.js'
import type {Flow, Topology} from '../../src/topology/types.js'
import {makeFlow} from '../flow.js'

/** A current mainline host with the kernel's defaults: the base every case adds to. */
const BASE_SYSCTLS: Record<string, string> = {
  'net.ipv4.ip_local_port_range': '32768 60999',
  'net.ipv4.ip_local_reserved_ports': '',
  'net.ipv4.ip_unprivileged_port_start': '1024',
  'net.ipv4.tcp_tw_reuse': '2',
  'net.ipv4.tcp_tw_reuse_delay': '1000',
  'net.ipv4.tcp_timestamps': '1',
  'net.ipv4.tcp_max_tw_buckets': '262144',
  'net.ipv4.tcp_rfc1337': '0',
  'net.ipv4.tcp_fin_timeout': '60',
}

export function caseInput(c: RuleCase): {facts: Facts; topology: Topology} {
  const kernel = c.kernel ?? '6.8.0'
  const sysctls = {...BASE_SYSCTLS, 'kernel.osrelease': kernel, ...(c.sysctl ?? {})}
  const mk = (f: Partial<Flow>, i: number): Flow =>
    makeFlow({name: `case-${i}`, qps: 10, ...f, nat: f.nat ? natWithDefaults(f.nat) : undefined})
  const flows = [...(c.flow ? [c.flow] : []), ...(c.flows ?? [])].map(mk)
  if (flows.length === 0) flows.push(mk({}, 0))
  return {
    facts: {source: 'case', kernel: parseKernel(kernel), sysctls, counters: c.counters ?? {}},
    topology: {file: 'case.yaml', waivers: [], flows},
  }
}

