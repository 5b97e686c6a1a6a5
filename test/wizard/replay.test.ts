// --answers: the same flow replayed from a file. Defaults fill the gaps; a refused or unknown
// answer is an error with the file and line, since nobody is there to re-ask.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {TwError} from '../../src/errors.js'
import {loadTopologyFile} from '../../src/topology/load.js'
import {askTopology, type WizardIO} from '../../src/wizard/flow.js'
import {summarizeHost} from '../../src/wizard/host.js'
import {parseAnswers, replayPrompts} from '../../src/wizard/replay.js'
import {fixtureFacts, ROOT} from './helpers.js'

async function replay(text: string, file = 'answers.yaml') {
  const lines: string[] = []
  const prompts = replayPrompts(parseAnswers(text, file), (l) => lines.push(l))
  const wio: WizardIO = {prompts, print: (l) => lines.push(l)}
  const facts = fixtureFacts()
  const out = await askTopology(wio, {facts, replay: true}, summarizeHost(facts))
  return {...out, prompts, lines}
}

async function replayError(text: string): Promise<TwError> {
  try {
    const r = await replay(text)
    r.prompts.done?.()
  } catch (error) {
    if (error instanceof TwError) return error
    throw error
  }
  throw new Error('expected the replay to fail')
}

describe('replaying answers', () => {
  it('the bundled incident topology replays as answers into the same flows', async () => {
    const file = join(ROOT, 'examples', 'incident', 'topology.yaml')
    const r = await replay(readFileSync(file, 'utf8'), file)
    r.prompts.done?.()
    const expected = await loadTopologyFile(file)
    expect(r.topology.flows).toEqual(expected.flows)
    expect(r.topology.host).toBe('php-01')
    // Each answer is echoed the way the terminal shows a finished prompt.
    expect(r.lines).toContain('✔ New connections per second in this flow, at peak 600')
  })

  it('reads JSON, fills unanswered questions with their defaults and infers "another flow?" from the list', async () => {
    const r = await replay(JSON.stringify({symptom: 'eaddrnotavail', flows: [{peer: '10.0.2.20:11211', qps: 900}, {peer: '10.0.2.21:11211'}]}), 'a.json')
    expect(r.topology.flows.map((f) => [f.name, f.role, f.closes_first, f.qps])).toEqual([
      ['to-10.0.2.20-11211', 'client', 'client', 900],
      ['to-10.0.2.21-11211', 'client', 'client', 100],
    ])
    expect(() => r.prompts.done?.()).not.toThrow()
  })

  it('a refused answer is an error at its line, with the reason', async () => {
    const e = await replayError('symptom: resets\nflows:\n  - peer: 10.0.1.10:80\n    qps: 0\n')
    expect(e.code).toBe('wizard.answer')
    expect(e.position).toMatchObject({file: 'answers.yaml', line: 4, field: 'flows.0.qps'})
    expect(e.message).toMatch(/above 0/)
  })

  it('a question with no answer and no default (the peer) is an error', async () => {
    const e = await replayError('symptom: resets\n')
    expect(e.position.field).toBe('flows.0.peer')
    expect(e.message).toMatch(/no answer, and no default/)
  })

  it('a choice that is not offered names the nearest one', async () => {
    const e = await replayError('flows:\n  - role: sever\n    peer: 10.0.1.10:80\n')
    expect(e.oneLine()).toMatch(/answers.yaml:2:\d+: flows.0.role: "sever" is not one of client, server, nat \(did you mean "server"\?\)/)
  })

  it('an answer no question asked for (a typo) is refused before anything is written', async () => {
    const e = await replayError('flows:\n  - peer: 10.0.1.10:80\n    qsp: 600\n')
    expect(e.code).toBe('wizard.answers')
    expect(e.position).toMatchObject({line: 3, field: 'flows.0.qsp'})
    expect(e.hint).toBe('did you mean "qps"?')
  })

  it('a file that is not a mapping, or not YAML, is refused with its position', () => {
    expect(() => parseAnswers('- a\n- b\n', 'x.yaml')).toThrow(/answers are a mapping/)
    expect(() => parseAnswers('a: [1\n', 'x.yaml')).toThrow(TwError)
  })
})
