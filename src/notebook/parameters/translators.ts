/**
 * @module Parameters to source code, one assignment per key, as papermill 2.x's translators write
 * them (without black installed). papermill has no JavaScript translator; the JavaScript one here
 * is nbhook's, for Deno's Jupyter kernel.
 *
 * Where papermill writes code that cannot run, nbhook writes what it meant (each is tested):
 * - R and Julia floats nan/inf/-inf: papermill writes Python's `nan`/`inf`, which are undefined
 *   names there; nbhook writes `NaN`, `Inf`, `-Inf`.
 * - R and Julia strings with U+0080–U+00FF: papermill's `\xNN` is a raw byte in both languages
 *   (invalid UTF-8); nbhook writes `\u00NN`. Julia strings also get `$` escaped as `\$`, which
 *   papermill leaves to be interpolated.
 * - A newline in the header comment would end the comment; it becomes a space.
 */
import { AppError } from "../../errors.js";
import type { ParamLanguage, ParamValue, Parameters } from "../types.js";
import { checkParameterLimits } from "./limits.js";
import { validateName, variableName } from "./names.js";
import { isParamObject } from "./param-values.js";
import { papermillEscapedString, pythonFloatRepr, pythonStrip } from "./python-repr.js";

export interface TranslateOptions {
  /**
   * JavaScript/TypeScript only: the keyword the notebook already declares a name with. Deno's
   * REPL mode lets a later cell redeclare a top-level name only with the same keyword (`let`
   * after `let`, `const` after `const`, `var` after `var`); any other pair is a SyntaxError
   * ("Identifier 'x' has already been declared"), so the injected cell reuses the notebook's
   * keyword. Names the notebook does not declare get `let`.
   */
  keywords?: ReadonlyMap<string, "let" | "const" | "var">;
}

/**
 * The source of an `injected-parameters` cell: a comment line, then one assignment per key in
 * insertion order. Throws AppError("parameter-invalid") for a key that is not a valid variable
 * name in `language` (see names.ts), a value that is not a ParamValue, or a value over the limits
 * of limits.ts (checked first: every caller, the CLI's `nbhook run` included, gets the same error
 * before any kernel starts).
 *
 * @example translateParameters("python", { days: 3n, rate: 0.5 }) // "# Parameters\ndays = 3\nrate = 0.5\n"
 */
export function translateParameters(
  language: ParamLanguage,
  params: Parameters,
  comment = "Parameters",
  options: TranslateOptions = {},
): string {
  checkParameterLimits(params, language);
  const js = language === "javascript" || language === "typescript";
  let content = `${commentLine(js ? "//" : "#", comment)}\n`;
  for (const [key, value] of Object.entries(params)) {
    validateName(language, key);
    const literal = translateValue(language, value, key);
    const name = variableName(language, key);
    if (js) content += `${options.keywords?.get(name) ?? "let"} ${name} = ${literal};\n`;
    else content += `${name} = ${literal}\n`;
  }
  return content;
}

/** One value as a literal of `language`. `path` names the value in error messages. */
export function translateValue(language: ParamLanguage, value: ParamValue, path = "value"): string {
  switch (language) {
    case "python":
      return literal(value, path, PYTHON);
    case "r":
      return literal(value, path, R);
    case "julia":
      return literal(value, path, JULIA);
    case "javascript":
    case "typescript":
      return literal(value, path, JAVASCRIPT);
  }
}

/** papermill's `comment()`: the marker, a space, the text, stripped. */
function commentLine(marker: string, text: string): string {
  // Line breaks as Python's str.splitlines() sees them.
  // eslint-disable-next-line no-control-regex -- 0x1c-0x1e are line breaks to Python
  return pythonStrip(`${marker} ${text.replace(/[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+/g, " ")}`);
}

interface Syntax {
  none: string;
  bool(value: boolean): string;
  int(value: bigint): string;
  float(value: number): string;
  str(value: string): string;
  list(items: string[]): string;
  dict(entries: Array<[key: string, value: string]>): string;
}

function literal(value: ParamValue, path: string, syntax: Syntax): string {
  if (value === null) return syntax.none;
  if (Array.isArray(value)) return syntax.list(value.map((v, i) => literal(v, `${path}[${i}]`, syntax)));
  switch (typeof value) {
    case "string":
      return syntax.str(value);
    case "boolean":
      return syntax.bool(value);
    case "bigint":
      return syntax.int(value);
    case "number":
      return syntax.float(value);
  }
  if (isParamObject(value)) {
    return syntax.dict(Object.entries(value).map(([k, v]) => [k, literal(v, `${path}.${k}`, syntax)]));
  }
  throw new AppError(
    "parameter-invalid",
    `parameter ${path} has a value of type ${typeof value}; use a string, number, boolean, null, list or object`,
  );
}

const PYTHON: Syntax = {
  none: "None",
  bool: (v) => (v ? "True" : "False"),
  int: (v) => v.toString(),
  float: (v) => {
    if (Number.isFinite(v)) return pythonFloatRepr(v);
    if (Number.isNaN(v)) return "float('nan')";
    return v < 0 ? "float('-inf')" : "float('inf')";
  },
  str: papermillEscapedString,
  list: (items) => `[${items.join(", ")}]`,
  dict: (entries) => `{${entries.map(([k, v]) => `${papermillEscapedString(k)}: ${v}`).join(", ")}}`,
};

/** papermill's escaping, with Latin-1 code points as `\u00NN` (see the module comment). */
function unicodeString(s: string): string {
  return papermillEscapedString(s).replace(
    /(\\+)x([89a-f][0-9a-f])/g,
    (whole, slashes: string, hex: string) => (slashes.length % 2 === 1 ? `${slashes}u00${hex}` : whole),
  );
}

function rJuliaFloat(v: number): string {
  if (Number.isFinite(v)) return pythonFloatRepr(v);
  if (Number.isNaN(v)) return "NaN";
  return v < 0 ? "-Inf" : "Inf";
}

const R: Syntax = {
  none: "NULL",
  bool: (v) => (v ? "TRUE" : "FALSE"),
  int: (v) => v.toString(),
  float: rJuliaFloat,
  str: unicodeString,
  list: (items) => `list(${items.join(", ")})`,
  dict: (entries) => `list(${entries.map(([k, v]) => `${unicodeString(k)} = ${v}`).join(", ")})`,
};

function juliaString(s: string): string {
  return unicodeString(s).replaceAll("$", "\\$");
}

const JULIA: Syntax = {
  none: "nothing",
  bool: (v) => (v ? "true" : "false"),
  int: (v) => v.toString(),
  float: rJuliaFloat,
  str: juliaString,
  list: (items) => `[${items.join(", ")}]`,
  dict: (entries) => `Dict(${entries.map(([k, v]) => `${juliaString(k)} => ${v}`).join(", ")})`,
};

/** JSON string syntax, with U+2028/U+2029 escaped so the literal is safe in any JS context. */
function jsString(s: string): string {
  return JSON.stringify(s).replaceAll("\u2028", "\\u2028").replaceAll("\u2029", "\\u2029");
}

const JAVASCRIPT: Syntax = {
  none: "null",
  bool: (v) => (v ? "true" : "false"),
  // Integers a JS number holds exactly stay numbers; larger ones become BigInt literals rather
  // than silently losing digits.
  int: (v) =>
    v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? v.toString() : `${v}n`,
  float: (v) => (Object.is(v, -0) ? "-0" : String(v)), // String gives NaN, Infinity, -Infinity
  str: jsString,
  list: (items) => `[${items.join(", ")}]`,
  // `"__proto__": v` in an object literal sets the prototype; the computed form makes a property.
  dict: (entries) =>
    `{${entries.map(([k, v]) => `${k === "__proto__" ? `["__proto__"]` : jsString(k)}: ${v}`).join(", ")}}`,
};
