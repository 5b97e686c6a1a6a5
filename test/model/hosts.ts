// The host the model tests start from: a 6.18 kernel (or `kernel`), the default port range,
// timestamps on, tcp_tw_reuse=2, and what the test sets on top.
import {parseKernel} from '../../src/facts/kernel.js'
import {hostParams, type HostParams} from '../../src/model/host.js'

export function host(sysctls: Record<string, string> = {}, kernel = '6.18.44'): HostParams {
  return hostParams({
    source: 'test',
    kernel: parseKernel(kernel),
    sysctls: {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_reuse': '2', ...sysctls},
    counters: {},
  })
}
