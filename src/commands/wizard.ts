import {BaseCommand} from '../cli/base.js'

// Placeholder: the real command lands with its issue.
export default class Wizard extends BaseCommand {
  static description = '(not yet implemented)'
  static hidden = true

  async run(): Promise<void> {
    this.error('not yet implemented', {exit: 1})
  }
}
