import {formatNumber} from '../rules/cel.js'
import {SEVERITIES, type Finding, type Report, type Severity} from '../rules/types.js'
import {styler} from './style.js'

const LABEL: Record<Severity, string> = {critical: 'CRITICAL', warning: 'WARNING', info: 'INFO'}

function show(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v)
  if (v === null) return 'unlimited'
  if (Array.isArray(v)) return v.map(show).join('–')
  return String(v)
}

/**
 * `x` with `figures` significant digits, in plain notation (no exponent), trailing zeros dropped.
 * For what formatNumber prints as 0 (a share of 0.019 % is 0.00019) and for two values it prints
 * alike.
 */
function significant(x: number, figures: number): string {
  const digits = Math.min(20, Math.max(0, figures - 1 - Math.floor(Math.log10(Math.abs(x)))))
  const fixed = x.toFixed(digits)
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed
}

/**
 * Evidence that the remedy changed, as "name before → after". A number formatNumber rounds to 0
 * (under 0.0005) keeps two significant digits, so a share of 0.00019 does not read "0 → 0"; two
 * numbers that still print alike get more digits (up to 6), so a change never reads "x → x"; one
 * below six significant figures (a bisection's tolerance: safeQps 235.26713 against 235.26709) is
 * left out.
 */
export function changes(before: Finding['evidence'], after: Finding['evidence']): string[] {
  const shown = (v: unknown, figures: number) => (typeof v === 'number' && v !== 0 && Math.abs(v) < 0.0005 ? significant(v, figures) : show(v))
  return Object.keys(after)
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .flatMap((k) => {
      const [b, a] = [before[k], after[k]]
      let pair = [shown(b, 2), shown(a, 2)]
      for (let figures = 3; pair[0] === pair[1] && typeof b === 'number' && typeof a === 'number' && figures <= 6; figures++) {
        pair = [significant(b, figures), significant(a, figures)]
      }
      return pair[0] === pair[1] ? [] : [`${k} ${pair[0]} → ${pair[1]}`]
    })
}

/** Wrap at `width` with a hanging indent; terminals and CI logs both read 100 columns well. */
function wrap(text: string, indent: string, width = 100): string {
  const out: string[] = []
  for (const para of text.trim().split('\n')) {
    let line = ''
    for (const word of para.split(/\s+/)) {
      if (line && indent.length + line.length + 1 + word.length > width) {
        out.push(indent + line)
        line = word
      } else line = line ? `${line} ${word}` : word
    }
    out.push(indent + line)
  }
  return out.join('\n')
}

export function renderText(report: Report, opts: {failOn: Severity; exitCode: number}): string {
  const c = styler()
  const color: Record<Severity, (s: string) => string> = {critical: c.red, warning: c.yellow, info: c.cyan}
  const lines: string[] = []
  for (const h of report.hosts) {
    lines.push(c.bold(`${h.host}`) + c.dim(`  kernel ${h.kernel ?? 'unknown'} · sysctls from ${h.source}`))
    if (h.error) {
      lines.push(`  ${c.red('ERROR')} ${h.error.message}`, '')
      continue
    }
    for (const n of h.notes ?? []) lines.push(wrap(`fleet: ${n}`, '  '))
    if (h.findings.length === 0) lines.push(`  ${c.green('no findings')}`)
    for (const sev of [...SEVERITIES].reverse()) {
      const group = h.findings.filter((f) => f.severity === sev)
      if (group.length === 0) continue
      // The count matches the summary line, which leaves waived findings out; they are listed, marked.
      const waived = group.filter((f) => f.waived).length
      lines.push('', `  ${color[sev](LABEL[sev])} (${group.length - waived}${waived ? `, ${waived} waived` : ''})`)
      for (const f of group) {
        const waived = f.waived ? c.dim(` [waived: ${f.waived.reason}]`) : ''
        lines.push(`  ${color[sev]('●')} ${c.bold(f.title)}${waived}`)
        lines.push(c.dim(`    ${f.id}${f.flow ? ` · flow ${f.flow}` : ''}`))
        lines.push(wrap(f.message, '    '))
        f.remedies.forEach((r, i) => {
          const what = r.sysctl
            ? Object.entries(r.sysctl).map(([k, v]) => `sysctl ${k} = ${v}`).join(', ')
            : r.action ?? Object.entries(r.flow ?? {}).map(([k, v]) => `${k}: ${show(v)}`).join(', ')
          lines.push(`    ${i + 1}. ${what}${r.sysctl && r.action ? c.dim(` (${r.action})`) : ''}`)
          lines.push(wrap(r.why, '       '))
          const delta = changes(f.evidence, r.after)
          if (delta.length) lines.push(c.dim(`       after: ${delta.join(', ')}`))
        })
        if (f.remedies.length === 0 && f.severity !== 'info') lines.push(c.dim('    no remedy the model can verify; see the explanation'))
        lines.push(c.dim(`    more: twadvisor explain ${f.id}`))
      }
    }
    lines.push('')
  }
  const s = report.summary
  const hostErrors = report.hosts.filter((h) => h.error).length
  lines.push(
    `${report.hosts.length} host${report.hosts.length === 1 ? '' : 's'}: ${s.critical} critical, ${s.warning} warning, ${s.info} info` +
      (hostErrors ? `, ${hostErrors} host error${hostErrors === 1 ? '' : 's'}` : '') +
      ` — exit ${opts.exitCode} (fail-on ${opts.failOn})`,
  )
  return lines.join('\n')
}
