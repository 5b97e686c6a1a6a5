// Build-time work that would otherwise slow every start: compile the topology JSON Schema to a
// standalone validator module (ajv's code generation), so `check` never compiles a schema.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import Ajv from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'generated')
mkdirSync(out, {recursive: true})

for (const [name, file] of [
  ['topology', 'schema/topology.schema.json'],
  ['rule', 'schema/rule.schema.json'],
]) {
  const schema = JSON.parse(readFileSync(join(root, file), 'utf8'))
  const ajv = new Ajv({allErrors: true, code: {source: true, esm: true}, strict: false})
  const validate = ajv.compile(schema)
  // ajv's ESM output still require()s its small runtime helpers (ucs2length); give it a require.
  const code = standaloneCode(ajv, validate)
  const prelude = code.includes('require(') ? "import {createRequire} from 'node:module';const require = createRequire(import.meta.url);\n" : ''
  writeFileSync(join(out, `validate-${name}.js`), prelude + code)
}

// The rules, validated and type-checked now, bundled with a digest of their files: at start
// loadRules() reuses the bundle only while rules/ holds exactly these bytes.
const {readdirSync} = await import('node:fs')
const {loadRules, rulesDigest, RULES_DIR} = await import('../dist/rules/load.js')
const names = readdirSync(RULES_DIR).filter((n) => n.endsWith('.yaml')).sort()
const texts = names.map((n) => readFileSync(join(RULES_DIR, n), 'utf8'))
const rules = loadRules(RULES_DIR, {bundle: false}).map(({compiled: _c, file: _f, ...r}) => r)
writeFileSync(join(out, 'rules.json'), JSON.stringify({digest: rulesDigest(names, texts), rules}))
