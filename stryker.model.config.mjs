// `npx stryker run stryker.model.config.mjs --mutate src/model/<file>.ts`: stryker.config.mjs with
// the model's own tests only (vitest.stryker-model.config.ts). A lower bound of the full score,
// about five times cheaper per surviving mutant; docs/mutation.md says which files were measured so.
import base from './stryker.config.mjs'

export default {...base, vitest: {...base.vitest, configFile: 'vitest.stryker-model.config.ts'}}
