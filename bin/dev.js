#!/usr/bin/env node
// Development entry: runs the compiled tree after `npm run build` (kept separate so
// bin/run.js stays the one users and tests call).
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
