import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {INPUT_USAGE, inputFlags, resolveInputs} from '../inputs.js'

export default class Model extends BaseCommand {
  static summary = 'The numbers alone: ports, reuse interval, TIME_WAIT occupancy, safe QPS, margin per flow, with a chart'
  static description = `Runs the model for every declared flow (or one, with --flow) and prints its numbers: usable source ports, how many connects before a port comes back and how long that is at the declared rate, TIME_WAIT tuples held, the share of new SYNs landing on a tuple in TIME_WAIT, the safe rate and the margin, and whether collisions are harmful or benign. Then a terminal chart of the share of new connections predicted to fail or be at risk against the rate, for the current settings and with each remedy the rules verified, the declared rate marked.`

  static usage = [
    `model ${INPUT_USAGE} [--flow NAME] [--no-chart] [--width COLUMNS] [--json]`,
  ]

  static examples = ['<%= config.bin %> model --example', '<%= config.bin %> model -t topology.yaml --flow api --json']

  static enableJsonFlag = true

  static flags = {
    ...inputFlags,
    flow: Flags.string({description: 'only this flow', helpValue: 'NAME'}),
    chart: Flags.boolean({description: 'draw the chart of risk against QPS', default: true, allowNo: true}),
    width: Flags.integer({description: 'chart width in columns', default: 60, min: 20, max: 200}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Model)
    const {facts, topology} = await resolveInputs(flags)
    const {selectFlows, remediesFor} = await import('../render/chart.js')
    // selectFlows checks the name (with a hint); the view still models every flow of the host.
    await selectFlows(topology, flags.flow)
    const {buildModelView, renderModelText} = await import('../render/chart.js')
    const view = buildModelView(facts, topology, await remediesFor(facts, topology), flags.flow)
    if (this.jsonEnabled()) return toJson(view)
    process.stdout.write(renderModelText(view, {chart: flags.chart, width: flags.width}))
    return toJson(view)
  }
}

function toJson(view: import('../render/chart.js').ModelView): unknown {
  return {
    kernel: view.kernel,
    host: view.host,
    flows: view.flows.map((v) => ({
      ...v.model,
      verdict: v.verdict,
      remedies: v.remedies.map((r) => ({id: r.id, change: r.label, clears: r.id, harmful: r.model.harmful, portExhaustion: r.model.portExhaustion, safeQps: r.model.safeQps, margin: r.model.margin, collisionShare: r.model.collisionShare, stallShare: r.model.stallShare})),
      chart: v.chart,
    })),
  }
}
