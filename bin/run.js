#!/usr/bin/env node
// dist/bundle holds oclif and the commands in one module (scripts/bundle.js): it starts about
// twice as fast as resolving @oclif/core file by file.
const {execute} = await import('../dist/bundle/cli-entry.js')

await execute({dir: import.meta.url})
