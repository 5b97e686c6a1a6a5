import {comment, entryComment, headerLines, noteLines} from '../header.js'
import type {Target} from './types.js'

/**
 * A tuned profile (tuned.conf) whose [sysctl] section carries the plan. Stack it on the current
 * profile instead of replacing it: `tuned-adm profile <current> twadvisor`.
 */
export const tuned: Target = {
  name: 'tuned',
  defaultFileName: 'tuned.conf',
  render(plan, ctx) {
    const out = headerLines(ctx, 'tuned').map((l) => comment(l))
    out.push(
      '# Install as /etc/tuned/twadvisor/tuned.conf and stack it on the current profile:',
      '#   tuned-adm profile $(tuned-adm active | sed "s/^Current active profile: //") twadvisor',
    )
    out.push(...noteLines(plan).map((l) => comment(l)))
    out.push('', '[main]', 'summary=TCP TIME_WAIT and ephemeral port settings from twadvisor', '', '[sysctl]')
    if (plan.entries.length === 0) out.push('# No sysctl changes: no finding on this host has a sysctl remedy.')
    for (const entry of plan.entries) out.push(comment(entryComment(entry)), `${entry.key}=${entry.value}`)
    return out.join('\n') + '\n'
  },
}
