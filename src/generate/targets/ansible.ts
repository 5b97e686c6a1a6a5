import {comment, entryComment, headerLines, noteLines, yamlQuote as q} from '../header.js'
import type {Target} from './types.js'

/**
 * Ansible vars (group_vars / host_vars) for ansible.posix.sysctl. Values are strings, as the
 * module writes them to the file verbatim.
 */
export const ansible: Target = {
  name: 'ansible',
  defaultFileName: 'twadvisor-sysctls.yml',
  render(plan, ctx) {
    const out = headerLines(ctx, 'ansible').map((l) => comment(l))
    out.push(
      '# Use with ansible.posix.sysctl:',
      '#   - ansible.posix.sysctl:',
      '#       name: "{{ item.name }}"',
      '#       value: "{{ item.value }}"',
      '#       sysctl_file: /etc/sysctl.d/60-twadvisor.conf',
      '#       reload: true',
      '#     loop: "{{ twadvisor_sysctls }}"',
      '#     loop_control: {label: "{{ item.name }}"}',
    )
    out.push(...noteLines(plan).map((l) => comment(l)))
    out.push('---')
    if (plan.entries.length === 0) {
      out.push('twadvisor_sysctls: []')
    } else {
      out.push('twadvisor_sysctls:')
      for (const entry of plan.entries) {
        out.push(
          `  - name: ${entry.key}`,
          `    value: ${q(entry.value)}`,
          // !unsafe: Ansible never templates it, whatever a reason holds (CVE-2023-5764 class).
          `    reason: !unsafe ${q(entryComment(entry))}`,
          `    rules: [${entry.ruleIds.map(q).join(', ')}]`,
        )
      }
    }
    return out.join('\n') + '\n'
  },
}
