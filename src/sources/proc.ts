import {readFile} from 'node:fs/promises'

import {parseKernel} from '../facts/kernel.js'
import {RELEVANT_KEYS} from '../facts/keys.js'
import {normalizeValue} from '../facts/normalize.js'
import type {Facts} from '../facts/types.js'
import {parseProcNet, parseSockstatTimeWait} from './counters.js'

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The live host: the relevant keys straight from /proc/sys, counters from /proc/net. */
export async function readLiveFacts(root = '/proc'): Promise<Facts> {
  const sysctls: Record<string, string> = {}
  const values = await Promise.all(RELEVANT_KEYS.map((k) => readOr(`${root}/sys/${k.replace(/\./g, '/')}`)))
  RELEVANT_KEYS.forEach((k, i) => {
    const v = values[i]
    if (v !== undefined) sysctls[k] = normalizeValue(v)
  })
  const [snmp, netstat, sockstat] = await Promise.all([
    readOr(`${root}/net/snmp`),
    readOr(`${root}/net/netstat`),
    readOr(`${root}/net/sockstat`),
  ])
  const counters = {...parseProcNet(snmp ?? ''), ...parseProcNet(netstat ?? '')}
  const release = sysctls['kernel.osrelease']
  return {
    source: 'live',
    kernel: release ? parseKernel(release) : null,
    sysctls,
    counters,
    timeWaitSockets: sockstat ? parseSockstatTimeWait(sockstat) : undefined,
  }
}
