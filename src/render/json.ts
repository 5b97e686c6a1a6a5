import type {Report} from '../rules/types.js'

/**
 * The stable JSON shape (README "JSON output"): {hosts: [{host, kernel, source, findings}],
 * summary}. The model's internals stay out: `twadvisor model --json` is where they live.
 */
export function toJsonReport(report: Report): Record<string, unknown> {
  return {
    hosts: report.hosts.map((h) =>
      h.error
        ? // An error entry stands instead of findings (README): no empty list that reads as "clean".
          {host: h.host, kernel: h.kernel, source: h.source, error: h.error}
        : {host: h.host, kernel: h.kernel, source: h.source, findings: h.findings, ...(h.notes ? {notes: h.notes} : {})},
    ),
    summary: report.summary,
  }
}
