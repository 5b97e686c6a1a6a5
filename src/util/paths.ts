import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/** The installed package's root (holds rules/, schema/, examples/), from dist/util/paths.js. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
