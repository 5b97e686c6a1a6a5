import type {Flow} from '../topology/types.js'
import type {FlowModel, HostModel} from '../model/types.js'

export type Severity = 'info' | 'warning' | 'critical'
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical']
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s)

/** Which flows a rule is evaluated against; `host` rules run once per host. */
export type AppliesTo = 'host' | 'client' | 'server' | 'nat' | 'any'

/** A remedy as written in a rule file: values are `{{ cel }}` templates. */
export interface RemedySpec {
  /** Sysctls for THIS host (they go into the generated sysctl.d file). */
  sysctl?: Record<string, string>
  /** Changes to the declared flow (more addresses, keep-alive, ...), applied for the re-run. */
  flow?: Record<string, string>
  /** What to do, in words, when it is not a sysctl on this host. */
  action?: string
  why: string
  /** Optional CEL condition: the remedy is only considered where it holds (kernel has the knob, ...). */
  when?: string
  /** Kernel facts (src/facts/kernel-facts.ts) the remedy needs: not offered where one does not hold. */
  facts?: string[]
}

export interface RuleCase {
  /** sysctls for the case (dotted keys), on top of a default 6.x host */
  sysctl?: Record<string, string>
  kernel?: string
  flow?: Partial<Flow>
  /** Extra flows (host rules that look across flows). */
  flows?: Partial<Flow>[]
  /** Kernel counters as a live host would have them (TcpExtPAWSTimewait, ...). */
  counters?: Record<string, number>
  /** (fires cases) Remedies that must be offered, named by a sysctl key or flow field they set. */
  offers?: string[]
  /**
   * (fires cases) Remedies whose `when` holds but which must be dropped because the model, re-run
   * with them applied, still fires the rule: the proof that the re-check runs.
   */
  rejects?: string[]
}

export interface Rule {
  id: string
  title: string
  severity: Severity
  applies_to: AppliesTo
  /** Kernel facts (src/facts/kernel-facts.ts) the rule stands on: not evaluated where one does not hold. */
  facts?: string[]
  when: string
  message: string
  evidence: string[]
  remedies: RemedySpec[]
  explanation: string
  references: string[]
  cases: {fires: RuleCase[]; passes: RuleCase[]}
  /** The file it came from, for messages. */
  file: string
}

/** A remedy in a finding: templates filled, checked by re-running the model. */
export interface Remedy {
  sysctl?: Record<string, string>
  flow?: Record<string, number | string | boolean>
  action?: string
  why: string
  /** The model's numbers with the remedy applied (margin, safeQps, collisionShare, ...). */
  after: Record<string, number | string | boolean | null>
  /** Set when the remedy is offered only together with other findings' fixes (host-remedies.ts): their `id` or `id:flow`. */
  combinedWith?: string[]
}

export interface Finding {
  id: string
  severity: Severity
  title: string
  flow?: string
  message: string
  evidence: Record<string, number | string | boolean | null>
  remedies: Remedy[]
  references: string[]
  waived?: {reason: string}
}

export interface HostReport {
  host: string
  kernel: string | null
  source: string
  findings: Finding[]
  /** The model's numbers, for `model` and for --json consumers. */
  model?: {host: HostModel; flows: FlowModel[]}
  /** Set instead of findings when this host could not be evaluated (fleet runs). */
  error?: {code: string; message: string}
  /** What the fleet's other hosts added to this host's flows (check --hosts joins them). */
  notes?: string[]
}

export interface Report {
  hosts: HostReport[]
  summary: Record<Severity, number>
}
