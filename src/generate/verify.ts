import {parseDocument} from 'yaml'

import {TwError} from '../errors.js'
import {shown} from '../util/text.js'
import type {Plan} from './plan.js'
import {podLevelBlocker} from './targets/k8s.js'
import type {TargetName} from './targets/types.js'

/**
 * Reads a rendered file back the way its consumer would, before anything is written: it must
 * set exactly the keys (and values) the plan holds — no more, no fewer. The renderers already
 * escape every comment (header.ts comment()); this is the independent second check, so a
 * label, a path or a reason that slipped through could never become a live setting.
 */

/** Every character some reader (sysctl -p, systemd-sysctl, tuned's INI parser, YAML 1.1) takes as a line end. */
const ANY_LINE_BREAK = /\r\n|[\n\r\v\f\u0085\u2028\u2029]/

function aborted(target: TargetName, what: string): TwError {
  return new TwError('generate.verify', `the ${target} output read back ${shown(what)}; nothing was written`, {
    position: {field: '--target'},
    hint: 'this is a bug in twadvisor or a hostile input; please report it with the input that caused it',
  })
}

/** Lines that are neither blank nor comments, split the way the strictest reader would split them. */
function liveLines(text: string, commentChars: string[]): string[] {
  return text
    .split(ANY_LINE_BREAK)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !commentChars.some((c) => l.startsWith(c)))
}

function keyValue(line: string, sep: string): [string, string] | null {
  const eq = line.indexOf(sep)
  if (eq <= 0) return null
  return [line.slice(0, eq).trim(), line.slice(eq + 1).trim().split(/\s+/).join(' ')]
}

function settingsOf(target: TargetName, text: string): Map<string, string> {
  const out = new Map<string, string>()
  const put = (key: string, value: string) => {
    if (out.has(key)) throw aborted(target, `key ${key} twice`)
    out.set(key, value)
  }
  if (target === 'sysctl.d') {
    // sysctl.d(5): '#' and ';' start comments; a leading '-' only mutes errors.
    for (const line of liveLines(text, ['#', ';'])) {
      const kv = keyValue(line, '=')
      if (kv === null) throw aborted(target, `a line that is not "key = value": ${line}`)
      put(kv[0].replace(/^-/, ''), kv[1])
    }
    return out
  }
  if (target === 'tuned') {
    let section = ''
    for (const line of liveLines(text, ['#', ';'])) {
      const head = /^\[([^\]]*)\]$/.exec(line)
      if (head) {
        section = head[1]!
        if (section !== 'main' && section !== 'sysctl') throw aborted(target, `an unexpected section [${section}]`)
        continue
      }
      const kv = keyValue(line, '=')
      if (kv === null) throw aborted(target, `a line that is not "key=value": ${line}`)
      if (section === 'main' && kv[0] === 'summary') continue
      if (section !== 'sysctl') throw aborted(target, `a setting outside [sysctl]: ${line}`)
      put(kv[0], kv[1])
    }
    return out
  }
  // ansible and k8s: YAML, one document, only the shape the renderer writes.
  const doc = parseDocument(text, {uniqueKeys: true, customTags: [UNSAFE_TAG]})
  if (doc.errors.length > 0 || doc.warnings.length > 0) throw aborted(target, `YAML that does not parse cleanly: ${(doc.errors[0] ?? doc.warnings[0])!.message.split('\n')[0]!}`)
  const data = doc.toJS() as unknown
  const only = (container: unknown, key: string): unknown => {
    if (container === null || typeof container !== 'object' || Array.isArray(container)) throw aborted(target, `a ${key} parent that is not a mapping`)
    const keys = Object.keys(container)
    if (keys.length !== 1 || keys[0] !== key) throw aborted(target, `keys ${keys.join(', ')} where only ${key} belongs`)
    return (container as Record<string, unknown>)[key]
  }
  const items = target === 'ansible' ? only(data, 'twadvisor_sysctls') : only(only(data, 'securityContext'), 'sysctls')
  if (!Array.isArray(items)) throw aborted(target, 'a sysctl list that is not a list')
  for (const item of items) {
    if (item === null || typeof item !== 'object') throw aborted(target, 'a list item that is not a mapping')
    const {name, value} = item as {name?: unknown; value?: unknown}
    if (typeof name !== 'string' || typeof value !== 'string') throw aborted(target, 'a list item without a string name and value')
    put(name, value)
  }
  return out
}

/** Ansible's `!unsafe` tag: the text is data, never a template. Read back as the plain string. */
export const UNSAFE_TAG = {tag: '!unsafe', resolve: (s: string) => s}

/** The keys this target must set for the plan (k8s carries only the pod-level ones as settings). */
function expected(target: TargetName, plan: Plan): Map<string, string> {
  const entries = target === 'k8s' ? plan.entries.filter((e) => podLevelBlocker(e.key, plan.kernel) === null) : plan.entries
  return new Map(entries.map((e) => [e.key, e.value]))
}

/** Throws (TwError generate.verify) unless `text` sets exactly the plan's keys with the plan's values. */
export function verifyRendered(target: TargetName, text: string, plan: Plan): void {
  const got = settingsOf(target, text)
  const want = expected(target, plan)
  for (const [key, value] of got) {
    if (!want.has(key)) throw aborted(target, `a key the plan does not hold: ${key}`)
    if (want.get(key) !== value) throw aborted(target, `${key} = ${value} (the plan says ${want.get(key)!})`)
  }
  for (const key of want.keys()) if (!got.has(key)) throw aborted(target, `no ${key}, which the plan holds`)
}
