// The explicit command list (package.json oclif.commands): no directory scan at start-up.
import Check from './check.js'
import Discover from './discover.js'
import Explain from './explain.js'
import Generate from './generate.js'
import Lab from './lab.js'
import Model from './model.js'
import Observe from './observe.js'
import Rules from './rules.js'
import Wizard from './wizard.js'

export const COMMANDS = {
  check: Check,
  discover: Discover,
  explain: Explain,
  generate: Generate,
  lab: Lab,
  model: Model,
  observe: Observe,
  rules: Rules,
  wizard: Wizard,
}
