import type {RenderContext} from '../header.js'
import type {Plan} from '../plan.js'

/** One renderer per target: the same plan, in the form that tool reads. */
export interface Target {
  name: TargetName
  /** File name suggested when the user writes it (`--output` stays explicit). */
  defaultFileName: string
  render(plan: Plan, ctx: RenderContext): string
}

export type TargetName = 'sysctl.d' | 'ansible' | 'k8s' | 'tuned'
