import {TwError} from '../errors.js'
import {parseKernel} from '../facts/kernel.js'
import type {Facts} from '../facts/types.js'
import {parseProcNet} from './counters.js'
import {parseSysctlDump} from './dump.js'

/** iproute2 accepts names up to NAME_MAX; we accept the conservative set it creates files for. */
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/

export function validateNetnsName(name: string): void {
  if (!NETNS_NAME.test(name) || name === '.' || name === '..') {
    throw new TwError('netns.name', `"${name}" is not a valid network namespace name`, {
      hint: 'letters, digits, ".", "_" and "-" only, as `ip netns list` shows them',
      position: {field: '--netns'},
    })
  }
}

/**
 * Facts from inside a named network namespace: `ip netns exec NAME sysctl -a` with an
 * argument array (execa, no shell), so the name can never become a command. net.* keys are
 * per namespace; kernel.osrelease is the host's.
 */
export async function readNetnsFacts(name: string): Promise<Facts> {
  validateNetnsName(name)
  const {execa} = await import('execa')
  const run = async (args: string[]) => {
    const r = await execa('ip', ['netns', 'exec', name, ...args], {reject: false})
    return r
  }
  const dump = await run(['sysctl', '-a'])
  if (dump.exitCode !== 0 && !dump.stdout) {
    const reason = (dump.stderr || dump.message || '').split('\n')[0]
    throw new TwError('netns.exec', `cannot read sysctls in network namespace "${name}": ${reason}`, {
      hint: 'it must exist (`ip netns list`) and this needs root',
      position: {field: '--netns'},
    })
  }
  const sysctls = parseSysctlDump(dump.stdout, `netns:${name}`)
  const net = await run(['cat', '/proc/net/snmp', '/proc/net/netstat'])
  const release = sysctls['kernel.osrelease']
  return {
    source: `netns:${name}`,
    kernel: release ? parseKernel(release) : null,
    sysctls,
    counters: net.exitCode === 0 ? parseProcNet(String(net.stdout)) : {},
  }
}
