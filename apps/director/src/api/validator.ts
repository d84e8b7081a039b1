// The validator compiler of the control plane: TypeBox, not fastify's default ajv, for three
// reasons.
// - fastify's ajv runs with `removeAdditional: true` and `coerceTypes: 'array'`: an unknown
//   property in a config body would vanish without a word and `"port": "80"` would pass as 80.
//   An operator's typo must be a 400 naming the field, never a silently different config.
// - The config loader and the in-memory director check documents with TypeBox (`Value.Check`);
//   validating requests with the same library keeps "what REST accepts" and "what a file may say"
//   one definition, including the defaults the schemas declare.
// - Query strings and path parameters arrive as text, so they are converted, but strictly:
//   TypeBox's `Value.Convert` turns `5.5` into 5 and `0x10` into 16, so the conversion is ours.
//
// - A refusal says what was expected, in the loader's words: TypeBox alone says `must be equal to
//   constant` for a bad enumeration value; `explainSchemaError` (@sluice/config) says `must be one
//   of "rr", "wrr", ... (got "bogus")` and names an unknown property beside the known ones.
//
// Defaults are filled by `Value.Default`, which reads TypeBox's own markers on the schema
// objects; fastify hands the compiler the route's schema objects themselves, so they are there
// (the services tests prove it: a service posted without `protocol` comes back as `tcp`).
import { explainSchemaError } from '@sluice/config';
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';

const INTEGER = /^-?[0-9]{1,15}$/;
const NUMBER = /^-?[0-9]{1,15}(\.[0-9]{1,15})?$/;

/** A copy of `data` whose top-level string values are numbers or booleans where the schema's
 * property says so and the text is exactly such a value; anything else is left for the check to
 * reject, so `limit=5.5`, `limit=` and `limit=1e3` are errors, not 5, 0 and 1000. */
export function convertStrings(schema: TSchema, data: unknown): unknown {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties;
  if (properties === undefined || data === null || typeof data !== 'object' || Array.isArray(data))
    return data;
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string' || !Object.hasOwn(properties, key)) continue;
    const type = properties[key].type;
    if (type === 'integer' && INTEGER.test(value)) out[key] = Number(value);
    else if (type === 'number' && NUMBER.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true';
  }
  return out;
}

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  // Bodies are JSON and keep their types; everything else is text off the request line.
  const convert = httpPart !== 'body';
  return (data: unknown) => {
    let value = convert ? convertStrings(schema, data) : data;
    value = Value.Default(schema, value);
    if (check.Check(value)) return { value };
    const found = explainSchemaError(schema, value);
    // One issue in ajv's shape; toErrorReply reads its pointer and message (errors.ts).
    if (found !== null)
      return {
        error: [
          {
            keyword: 'explained',
            instancePath: found.pointer,
            schemaPath: '',
            params: {},
            message: found.message,
          },
        ],
      };
    return { error: check.Errors(value) };
  };
};
