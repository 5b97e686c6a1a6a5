import {comment, entryComment, headerLines, noteLines} from '../header.js'
import type {Target} from './types.js'

/**
 * /etc/sysctl.d/60-twadvisor.conf: `key = value` lines as sysctl.d(5) and `sysctl -p` read
 * them, each under a comment with the rule ids and the reason. 60 sorts after the
 * distribution's 50-*.conf defaults and before the administrator's 99-*.conf overrides.
 */
export const sysctlD: Target = {
  name: 'sysctl.d',
  defaultFileName: '60-twadvisor.conf',
  render(plan, ctx) {
    const out = headerLines(ctx, 'sysctl.d').map((l) => comment(l))
    out.push('# Load now: sysctl -p FILE (or twadvisor generate --apply); systemd-sysctl loads it at boot.')
    out.push(...noteLines(plan).map((l) => comment(l)))
    if (plan.entries.length === 0) out.push('', '# No sysctl changes: no finding on this host has a sysctl remedy.')
    for (const entry of plan.entries) {
      out.push('', comment(entryComment(entry)), `${entry.key} = ${entry.value}`)
    }
    return out.join('\n') + '\n'
  },
}
