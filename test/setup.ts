// Property tests (fast-check) run from one fixed seed, so CI is repeatable: a run that passes
// passes again, and a failure names its counterexample for good. `FC_SEED=n npm test` (or
// `npm run fuzz`, which also runs 20x the cases) explores other seeds.
import fc from 'fast-check'

const seed = process.env.FC_SEED === undefined ? 20261207 : Number(process.env.FC_SEED)
fc.configureGlobal({...fc.readConfigureGlobal(), seed})
