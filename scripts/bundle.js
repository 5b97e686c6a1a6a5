// Bundle the compiled CLI (dist/, from tsc) into dist/bundle with code splitting. Start-up
// cost is dominated by module resolution and loading; one file for the common path halves it
// (see bench/startup.js). tsc's dist/ stays: tests, the lab driver and scripts use it.
import {rmSync} from 'node:fs'

import {build} from 'esbuild'

// Chunk names carry hashes: without a clean start old chunks pile up beside the new ones.
rmSync('dist/bundle', {recursive: true, force: true})

await build({
  entryPoints: {'cli-entry': 'dist/cli-entry.js'},
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  // Optional peer of @oclif/core (ts-node support) that a compiled CLI never loads.
  external: ['typescript'],
  // CommonJS packages inside an ESM bundle still call require(): give them one.
  banner: {js: "import {createRequire as __twCreateRequire} from 'node:module';const require = __twCreateRequire(import.meta.url);"},
  logLevel: 'warning',
  legalComments: 'none',
})
