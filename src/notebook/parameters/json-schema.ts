/**
 * @module The parameters a notebook's `parameters` cell defines, as JSON: each default as a JSON
 * value, and the whole as a JSON Schema (draft 2020-12) of the object a webhook call may send
 * (the JSON body of a POST; a query string or form carries the same names as text, converted to
 * these types). Used by the per-webhook parameter list and OpenAPI document.
 */
import type { ParamValue } from "../types.js";
import { isParamObject } from "./param-values.js";
import type { ParamType, ParameterDefault } from "./types.js";

/** A JSON Schema object (draft 2020-12), as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** The JSON Schema type of each parameter type; none and unknown constrain nothing. */
const JSON_TYPES: Record<ParamType, string | undefined> = {
  int: "integer",
  float: "number",
  bool: "boolean",
  str: "string",
  list: "array",
  dict: "object",
  none: undefined,
  unknown: undefined,
};

/**
 * A default as a JSON value. Ints (bigint) within ±(2^53 − 1) become JSON numbers; larger ones
 * become their exact decimal text (a string), since a JSON number that large would be read back
 * rounded by most clients. A float that JSON cannot spell (NaN, ±Infinity) becomes null, as
 * JSON.stringify writes it.
 */
export function jsonDefault(value: ParamValue): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(jsonDefault);
  if (isParamObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // An own property even for "__proto__": a notebook's dict key is data.
      Object.defineProperty(out, key, {
        value: jsonDefault(item),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/**
 * The JSON Schema of one parameter: its type (with `null` allowed when the default is None, as in
 * `x: int = None`), its default, and the comment of its line as description.
 */
export function parameterJsonSchema(parameter: ParameterDefault): JsonSchema {
  const schema: JsonSchema = {};
  const type = JSON_TYPES[parameter.type];
  if (type) schema.type = parameter.default === null ? [type, "null"] : type;
  if (parameter.default !== undefined) schema.default = jsonDefault(parameter.default);
  if (parameter.help) schema.description = parameter.help;
  return schema;
}

/**
 * The JSON Schema (draft 2020-12) of a call's parameters: one property per name of the
 * `parameters` cell, none required (each has its default in the notebook), and other names
 * allowed (they still reach the notebook through `body`/`params`, as in Naas).
 */
export function parametersJsonSchema(parameters: ParameterDefault[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const parameter of parameters) {
    Object.defineProperty(properties, parameter.name, {
      value: parameterJsonSchema(parameter),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { $schema: JSON_SCHEMA_DIALECT, type: "object", properties, additionalProperties: true };
}
