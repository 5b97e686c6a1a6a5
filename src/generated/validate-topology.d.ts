// Written by scripts/postbuild.js from schema/topology.schema.json (ajv standalone).
declare const validate: ((data: unknown) => boolean) & {errors?: unknown[] | null}
export default validate
