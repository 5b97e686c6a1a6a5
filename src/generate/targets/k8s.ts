import {kernelAtLeast, parseKernel} from '../../facts/kernel.js'
import {comment, entryComment, headerLines, noteLines, yamlQuote as q} from '../header.js'
import type {PlanEntry} from '../plan.js'
import type {Target} from './types.js'

/**
 * The kubelet's safe set: namespaced sysctls a pod may set in securityContext.sysctls without
 * the node allowing them. A host sysctl.d file does not reach a pod's network namespace
 * (docs/kernel.md), so for a pod these are the only keys that apply without node changes.
 * Sources: https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/ (the safe set)
 * and https://kubernetes.io/docs/reference/node/kernel-version-requirements/ (kernel minima:
 * the kubelet drops a safe sysctl from its allowlist on an older kernel; pkg/kubelet/sysctl/safe_sysctls.go).
 * `kubernetes` is the release that added the key to the safe set, where the docs give one.
 */
export const K8S_SAFE_SYSCTLS: Record<string, {kernel?: string; kubernetes?: string}> = {
  'net.ipv4.ip_local_port_range': {},
  'net.ipv4.tcp_syncookies': {kernel: '4.6'},
  'net.ipv4.ping_group_range': {},
  'net.ipv4.ip_unprivileged_port_start': {},
  'net.ipv4.ip_local_reserved_ports': {kernel: '3.16', kubernetes: '1.27'},
  'net.ipv4.tcp_keepalive_time': {kernel: '4.5', kubernetes: '1.29'},
  'net.ipv4.tcp_fin_timeout': {kernel: '4.6', kubernetes: '1.29'},
  'net.ipv4.tcp_keepalive_intvl': {kernel: '4.5', kubernetes: '1.29'},
  'net.ipv4.tcp_keepalive_probes': {kernel: '4.5', kubernetes: '1.29'},
  'net.ipv4.tcp_rmem': {kernel: '4.15', kubernetes: '1.32'},
  'net.ipv4.tcp_wmem': {kernel: '4.15', kubernetes: '1.32'},
}

/** Why a key is not in the pod fragment, or null when it is. */
export function podLevelBlocker(key: string, kernel: string | null): string | null {
  const safe = K8S_SAFE_SYSCTLS[key]
  if (!safe) return 'not in the kubelet\'s safe set'
  const k = kernel === null ? null : parseKernel(kernel)
  if (safe.kernel && k !== null && !kernelAtLeast(k, safe.kernel)) {
    return `in the safe set only on kernel ${safe.kernel}+ (this host runs ${kernel})`
  }
  return null
}

/** A pod spec fragment: spec.securityContext.sysctls, plus the rest as comments with the node-level way. */
export const k8s: Target = {
  name: 'k8s',
  defaultFileName: 'twadvisor-pod-sysctls.yaml',
  render(plan, ctx) {
    const pod: PlanEntry[] = []
    const node: {entry: PlanEntry; why: string}[] = []
    for (const entry of plan.entries) {
      const why = podLevelBlocker(entry.key, plan.kernel)
      if (why === null) pod.push(entry)
      else node.push({entry, why})
    }
    const out = headerLines(ctx, 'k8s').map((l) => comment(l))
    out.push(
      '# Merge into the pod spec (spec.securityContext). Only the kubelet\'s safe namespaced sysctls are here:',
      '# https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/',
    )
    out.push(...noteLines(plan).map((l) => comment(l)))
    if (pod.length === 0) {
      out.push('securityContext:', '  sysctls: []')
    } else {
      out.push('securityContext:', '  sysctls:')
      for (const entry of pod) {
        const since = K8S_SAFE_SYSCTLS[entry.key]?.kubernetes
        out.push(comment(`${entryComment(entry)}${since ? ` (safe since Kubernetes ${since})` : ''}`, '    '))
        out.push(`    - name: ${entry.key}`, `      value: ${q(entry.value)}`)
      }
    }
    if (node.length > 0) {
      out.push(
        '# Not settable per pod without node changes:',
        ...node.map(({entry, why}) => comment(`  ${entry.key} = ${entry.value}  (${why}; ${entryComment(entry)})`)),
        '# For a namespaced key, allow it on the nodes (KubeletConfiguration allowedUnsafeSysctls, or kubelet',
        '# --allowed-unsafe-sysctls) and add it above; for the node itself and hostNetwork pods, set it on every',
        '# node in /etc/sysctl.d (twadvisor generate --target sysctl.d) or with your node tuning tool.',
      )
    }
    return out.join('\n') + '\n'
  },
}
