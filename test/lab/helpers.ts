import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import ts from 'typescript'

import type {Facts} from '../../src/facts/types.js'
import type {Flow} from '../../src/topology/types.js'
import {listLabNs} from '../../src/lab/system.js'
import {makeFlow, type TestFlow} from '../flow.js'

/** The driver transpiled from source, so the lab tests never run a stale dist/. */
export function buildDriver(): string {
  const src = readFileSync(fileURLToPath(new URL('../../src/lab/driver.ts', import.meta.url)), 'utf8')
  const out = ts.transpileModule(src, {compilerOptions: {module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022}})
  const file = join(mkdtempSync(join(tmpdir(), 'twlab-test-')), 'driver.mjs')
  writeFileSync(file, out.outputText)
  return file
}

export function flow(over: TestFlow): Flow {
  return makeFlow({name: 'lab-test', ...over})
}

export function facts(sysctls: Record<string, string>): Facts {
  return {source: 'test', kernel: null, sysctls: {'net.ipv4.tcp_timestamps': '1', ...sysctls}, counters: {}}
}

/** Namespaces this test process created and did not remove. */
export async function leftovers(): Promise<string[]> {
  const {all} = await listLabNs()
  return all.filter((n) => n.startsWith(`twlab-${process.pid}-`))
}
