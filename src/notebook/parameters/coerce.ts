/**
 * @module Request strings (query string, form fields) to the type of the parameter's default in
 * the notebook. A value that does not fit is an AppError("parameter-invalid"), which the server
 * answers with 422.
 */
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import { parseJsonParameters } from "./json-values.js";
import { ParameterLimitError } from "./limits.js";
import { describeValue, isParamObject } from "./param-values.js";
import { parsePythonFloat, parsePythonInt } from "./python-numbers.js";
import type { ParameterDefault } from "./types.js";

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);
const NONE_WORDS = new Set(["", "None", "null"]);

/**
 * Turns the request string `raw` for parameter `name` into a value of `expected.type`:
 * - int: a decimal integer as Python's `int()` reads it (`" 1_000 "`, `"-3"`; not `"3.5"`);
 * - float: anything Python's `float()` reads (`"2"`, `"1e-3"`, `"nan"`, `"-inf"`);
 * - bool: true/false, 1/0, yes/no, on/off, in any case;
 * - none (default `None`): `""`, `"None"` or `"null"` is None, anything else stays a string;
 * - list, dict: JSON text of that shape (`[1, 2]`, `{"a": 1}`), ints kept apart from floats;
 * - str and unknown: the string as it is.
 * When the default is None (`x: int = None`), `""`, `"None"` and `"null"` also give None.
 *
 * @example coerceParameter("days", "7", { name: "days", type: "int", default: 3n }) // 7n
 */
export function coerceParameter(name: string, raw: string, expected: ParameterDefault): ParamValue {
  if (expected.default === null && NONE_WORDS.has(raw.trim())) return null;
  const value = convert(name, raw, expected);
  if (value !== undefined) return value;
  const wanted =
    expected.type === "list" || expected.type === "dict" ? `${expected.type} (as JSON)` : expected.type;
  const shown = raw.length > 80 ? `${raw.slice(0, 79)}…` : raw;
  throw new AppError(
    "parameter-invalid",
    `parameter ${JSON.stringify(name)} expects ${wanted}${defaultNote(expected)}; got ${JSON.stringify(shown)}`,
  );
}

function convert(name: string, raw: string, expected: ParameterDefault): ParamValue | undefined {
  switch (expected.type) {
    case "int":
      return parsePythonInt(raw, name);
    case "float":
      return parsePythonFloat(raw);
    case "bool": {
      const word = raw.trim().toLowerCase();
      return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : undefined;
    }
    case "none":
      return NONE_WORDS.has(raw.trim()) ? null : raw;
    case "list":
    case "dict": {
      const value = parseJson(name, raw);
      if (value === undefined) return undefined;
      const fits = expected.type === "list" ? Array.isArray(value) : isParamObject(value);
      return fits ? value : undefined;
    }
    case "str":
    case "unknown":
      return raw;
  }
}

/** JSON text, or undefined when it is not JSON; over a limit (limits.ts) is its own error. */
function parseJson(name: string, raw: string): ParamValue | undefined {
  try {
    return parseJsonParameters(raw, "JSON", { name });
  } catch (err) {
    if (err instanceof AppError && !(err instanceof ParameterLimitError)) return undefined;
    throw err;
  }
}

function defaultNote(expected: ParameterDefault): string {
  return expected.default === undefined ? "" : ` (default ${describeValue(expected.default)})`;
}
