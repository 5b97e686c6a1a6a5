import type {Rule, Report, Severity} from '../rules/types.js'

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {critical: 'error', warning: 'warning', info: 'note'}

export interface SarifLocation {
  /** The topology file of each host, and the line of each flow. */
  file: string
  flowLines: Record<string, number>
}

/** SARIF 2.1.0 for code-scanning UIs: one run, results located at the flow in the topology file. */
export function toSarif(report: Report, rules: Pick<Rule, 'id' | 'title' | 'severity' | 'explanation' | 'references'>[], version: string, where: (host: string, index: number) => SarifLocation | undefined): Record<string, unknown> {
  const results = report.hosts.flatMap((h, index) =>
    h.findings.map((f) => {
      const loc = where(h.host, index)
      return {
        ruleId: f.id,
        level: LEVEL[f.severity],
        message: {text: `${h.host}${f.flow ? ` (flow ${f.flow})` : ''}: ${f.message}`},
        ...(loc
          ? {locations: [{physicalLocation: {artifactLocation: {uri: loc.file}, region: {startLine: (f.flow && loc.flowLines[f.flow]) || 1}}}]}
          : {}),
        properties: {host: h.host, evidence: f.evidence, remedies: f.remedies},
        ...(f.waived ? {suppressions: [{kind: 'external', justification: f.waived.reason}]} : {}),
      }
    }),
  )
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'twadvisor',
            version,
            rules: rules.map((r) => ({
              id: r.id,
              shortDescription: {text: r.title},
              fullDescription: {text: r.explanation.trim()},
              defaultConfiguration: {level: LEVEL[r.severity]},
              help: {text: `${r.explanation.trim()}\n\nReferences: ${r.references.join('; ')}`},
            })),
          },
        },
        results,
      },
    ],
  }
}
