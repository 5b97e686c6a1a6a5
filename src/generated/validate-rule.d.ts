// Written by scripts/postbuild.js from schema/rule.schema.json (ajv standalone).
declare const validate: ((data: unknown) => boolean) & {errors?: unknown[] | null}
export default validate
