import {SEVERITIES, severityRank, type HostReport, type Report, type Severity} from './types.js'

/** Count the findings that are not waived, across hosts. */
export function buildReport(hosts: HostReport[]): Report {
  const summary = {critical: 0, warning: 0, info: 0} as Record<Severity, number>
  for (const h of hosts) for (const f of h.findings) if (!f.waived) summary[f.severity]++
  return {hosts, summary}
}

/**
 * The exit code CI and Ansible act on: 2 when any unwaived finding is at or above `failOn`,
 * 1 when a host could not be evaluated, else 0.
 */
export function exitCodeFor(report: Report, failOn: Severity): number {
  const threshold = severityRank(failOn)
  const failing = SEVERITIES.filter((s) => severityRank(s) >= threshold).some((s) => report.summary[s] > 0)
  if (failing) return 2
  if (report.hosts.some((h) => h.error)) return 1
  return 0
}
