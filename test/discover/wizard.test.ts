// The wizard with discovered flows: their values are the defaults, so Enter through every
// question gives back the discovered topology; a typed answer still wins.
import {describe, expect, it} from 'vitest'

import {discoverSaved, topologyOf} from '../../src/discover/index.js'
import {askTopology, type WizardIO} from '../../src/wizard/flow.js'
import {summarizeHost} from '../../src/wizard/host.js'
import {FIXTURES} from '../e2e/helpers.js'
import {fixtureFacts, scripted} from '../wizard/helpers.js'
import {join} from 'node:path'

describe('wizard --discover', async () => {
  const {topology} = await topologyOf(await discoverSaved(join(FIXTURES, 'discover', 'php'), {intervalSeconds: 10}))
  const found = topology.flows

  it('Enter through every question gives back the discovered flows, in order', async () => {
    const facts = fixtureFacts()
    const prompts = scripted({symptom: 'planning'})
    const lines: string[] = []
    const io: WizardIO = {prompts, print: (l) => lines.push(l)}
    const out = await askTopology(io, {facts, discovered: found}, summarizeHost(facts))
    // The wizard asks client_port_range only where it matters; discover leaves it out.
    expect(out.topology.flows).toEqual(found.map((f) => ({...f})))
    expect(lines.join("\n")).toContain(`discover found ${found.length} flow(s) on this host: ${found[0]!.name} (${found[0]!.qps}/s)`)
    expect(prompts.asked.find((a) => a.id === `flows.${found.length - 1}.another`)?.default).toBe(false)
    expect(prompts.asked.find((a) => a.id === 'flows.0.another')?.default).toBe(true)
  })

  it('a typed answer replaces the discovered value, and later defaults follow the new peer', async () => {
    const facts = fixtureFacts()
    const prompts = scripted({symptom: 'planning', 'flows.0.qps': '600', 'flows.0.another': false})
    const out = await askTopology({prompts, print: () => {}}, {facts, discovered: found}, summarizeHost(facts))
    expect(out.topology.flows).toEqual([{...found[0]!, qps: 600}])
  })

  it('without discovered flows the defaults are the usual ones', async () => {
    const facts = fixtureFacts()
    const prompts = scripted({symptom: 'planning', 'flows.0.peer': '10.0.2.20:11211'})
    const out = await askTopology({prompts, print: () => {}}, {facts}, summarizeHost(facts))
    expect(out.topology.flows[0]).toMatchObject({qps: 100, keepalive: false})
  })
})
