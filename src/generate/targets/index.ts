import {ansible} from './ansible.js'
import {k8s} from './k8s.js'
import {sysctlD} from './sysctld.js'
import {tuned} from './tuned.js'
import type {Target, TargetName} from './types.js'

export type {Target, TargetName} from './types.js'

export const TARGETS: Record<TargetName, Target> = {
  'sysctl.d': sysctlD,
  ansible,
  k8s,
  tuned,
}

