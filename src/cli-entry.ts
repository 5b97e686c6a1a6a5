// The one module bin/run.js loads: oclif and the command list, bundled by esbuild
// (scripts/bundle.js) so start-up does not resolve hundreds of files. Lazy imports inside the
// commands stay separate chunks, so `check` never loads the lab, the wizard or execa.
export {execute} from '@oclif/core'
export {COMMANDS} from './commands/index.js'
