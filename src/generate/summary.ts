import type {GenerateResult} from './run.js'

/**
 * The lines `generate` prints about what it did (written, current, applied, who wins at boot).
 * The generated text itself and the diff are printed as they are.
 */
export function summaryLines(r: GenerateResult): string[] {
  const out: string[] = []
  const keys = r.plan.entries.length
  if (r.write) {
    if (!r.write.changed) out.push(`${r.output} is current (${keys} key${keys === 1 ? '' : 's'}); nothing written`)
    else out.push(`${r.write.created ? 'wrote' : 'updated'} ${r.output} (${keys} key${keys === 1 ? '' : 's'}, target ${r.target})`)
    if (r.write.backup) out.push(`kept the previous file as ${r.write.backup}`)
  } else if (r.diff === undefined && r.changed !== undefined) {
    out.push(r.changed ? `${r.output} would change` : `${r.output} is current`)
  }
  if (r.carried?.length) out.push(`kept from the existing file (twadvisor wrote them; their findings are gone now): ${r.carried.join(', ')}`)
  for (const d of r.dropped ?? []) out.push(`not kept from ${r.output}:${d.line}: ${d.key}: ${d.why}`)
  if (r.changed && r.foreign && !r.write) out.push(`${r.output} was not written by twadvisor: writing it needs --force (a backup is kept)`)
  if (r.apply) {
    out.push(`applied ${r.apply.file}${r.apply.netns ? ` in network namespace ${r.apply.netns}` : ''} with sysctl -p:`)
    for (const k of r.apply.keys) {
      out.push(k.ok ? `  ok      ${k.key} = ${k.now}` : `  FAILED  ${k.key} = ${k.wanted}: ${k.error} (now ${k.now ?? 'absent'})`)
    }
  }
  if (r.boot) {
    if (r.bootName === null) out.push(`at boot: ${r.output} is not in the systemd-sysctl search path, so nothing loads it at boot`)
    out.push('at boot (systemd-sysctl order; the last file that sets a key wins):')
    for (const kb of r.boot) {
      const others = kb.setters.filter((s) => s.file !== r.bootName)
      const winner = kb.winner
      if (winner === null) {
        out.push(`  ${kb.key}: no file sets it; the kernel default applies`)
        continue
      }
      const ours = winner.file === r.bootName
      const list = others.map((s) => `${s.file}:${s.line} (${s.value})`).join(', ')
      out.push(
        ours
          ? `  ${kb.key}: ${winner.file} wins${list ? `; also set by ${list}` : ''}`
          : `  ${kb.key}: ${winner.file}:${winner.line} wins with ${winner.value}, overriding twadvisor's value; also set by ${list}`,
      )
    }
    if (r.apply?.netns) out.push('  (systemd-sysctl sets the host namespace only; a named namespace keeps what its creator sets)')
  }
  return out
}
