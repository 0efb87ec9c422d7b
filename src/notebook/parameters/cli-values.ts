/**
 * @module Parameter values from the command line, as papermill's CLI reads them: `-p name value`
 * infers the type (`_resolve_type`), `-r` keeps the string (nothing to do here), `-f file` and
 * `-y text` are YAML (papermill uses `yaml.safe_load`, YAML 1.1), and a `.json` file is JSON.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument, type ScalarTag } from "yaml";
import { AppError } from "../../errors.js";
import type { ParamValue, Parameters } from "../types.js";
import { parseJsonParameters } from "./json-values.js";
import { hasTooManyDigits, MAX_INT_DIGITS, MAX_NESTING_DEPTH, tooDeep, tooManyDigits } from "./limits.js";
import { isParamObject, setOwn } from "./param-values.js";
import { parsePythonFloat, parsePythonInt } from "./python-numbers.js";

/**
 * papermill's `_resolve_type`: exactly "True"/"False"/"None" become bool/None; text Python's
 * `int()` accepts becomes an int (bigint); text `float()` accepts becomes a float; anything else
 * stays a string. An int of more digits than limits.ts allows is a ParameterLimitError naming
 * `name`.
 *
 * @example inferCliValue("1_000") // 1000n
 * @example inferCliValue(" -Infinity ") // -Infinity
 */
export function inferCliValue(text: string, name = "value"): ParamValue {
  if (text === "True") return true;
  if (text === "False") return false;
  if (text === "None") return null;
  return parsePythonInt(text, name) ?? parsePythonFloat(text) ?? text;
}

/**
 * Reads a parameters file: JSON when the name ends in `.json`, else YAML 1.1 (a JSON document is
 * YAML too). The top level must be a mapping; an empty file is no parameters.
 */
export async function readParametersFile(path: string): Promise<Parameters> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError("usage", `cannot read parameters file ${path}: ${reason}`, { cause: err });
  }
  if (extname(path).toLowerCase() === ".json") {
    const value = parseJsonParameters(text, `parameters file ${path}`);
    if (!isParamObject(value)) throw notAMapping(`parameters file ${path}`, value);
    return value;
  }
  return parseYamlParameters(text, `parameters file ${path}`);
}

/**
 * Parses YAML text (papermill's `-y`, or a `-f` file) into parameters, with the types PyYAML's
 * `safe_load` gives (so a notebook gets the same values under nbhook and papermill). Integers stay
 * bigints, floats numbers. Plain scalars are resolved with PyYAML's own YAML 1.1 rules, quirks
 * included: `yes`/`off` are booleans but `y`/`n` are strings; `0x1f`, `017`, `0b11`, `1_000` and
 * `1:30` are ints but `08` is a string; a float needs a dot (`1.0e+3`, `.5`), so `1e3`, `-.5` and
 * `.` are strings; `.nan`/`.inf` are floats. Timestamps stay strings (PyYAML makes datetimes that
 * papermill then writes as their `str()`); `<<` merges work.
 */
export function parseYamlParameters(text: string, source = "YAML parameters"): Parameters {
  const doc = parseDocument(text, {
    version: "1.1",
    intAsBigInt: true,
    customTags: (tags) => [
      ...tags.filter((tag) => typeof tag !== "string" && !REPLACED_TAGS.has(tag.tag)),
      ...PYYAML_SCALARS,
    ],
  });
  const problem = doc.errors[0]?.message;
  if (problem !== undefined) {
    // The `yaml` package reports its own stack overflow on deep nesting as a syntax error.
    if (problem.startsWith("Maximum call stack size exceeded")) throw tooDeep(source);
    throw new AppError("parameter-invalid", `${source} is not valid YAML: ${problem}`);
  }
  const value = fromYaml(yamlToJs(doc, source), { source, path: "", parameter: "", depth: 0 });
  if (value === null) return {};
  if (!isParamObject(value)) throw notAMapping(source, value);
  return value;
}

/**
 * The document as plain values. The `yaml` package builds them recursively: a document nested
 * thousands of levels deep overflows the stack, which is the same mistake as a too deep one.
 */
function yamlToJs(doc: ReturnType<typeof parseDocument>, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(source);
    throw err;
  }
}

function notAMapping(source: string, value: ParamValue): AppError {
  const kind = Array.isArray(value) ? "a list" : value === null ? "empty" : `a ${typeof value}`;
  return new AppError("parameter-invalid", `${source} must be a mapping of names to values; it is ${kind}`);
}

/** Where a YAML value is: the full path (for messages), its parameter, its depth (the document is 0). */
interface YamlPlace {
  source: string;
  path: string;
  parameter: string;
  depth: number;
}

/**
 * Checks that what the YAML library produced is a ParamValue (binary, sets, … are not) within the
 * limits of limits.ts.
 */
function fromYaml(value: unknown, place: YamlPlace): ParamValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
    case "number":
      return value;
    case "bigint":
      if (hasTooManyDigits(value.toString())) throw tooManyDigits(place.path || place.source, MAX_INT_DIGITS);
      return value;
  }
  // The document's own mapping is not a parameter's level: `a: [1]` makes `a` one level deep.
  if (typeof value === "object" && place.depth > MAX_NESTING_DEPTH) {
    throw tooDeep(place.parameter || place.source);
  }
  const inner = (path: string): YamlPlace => ({
    ...place,
    path,
    parameter: place.depth === 0 ? path : place.parameter,
    depth: place.depth + 1,
  });
  if (Array.isArray(value)) return value.map((v, i) => fromYaml(v, inner(`${place.path}[${i}]`)));
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: { [key: string]: ParamValue } = {};
    for (const [k, v] of Object.entries(value)) {
      setOwn(out, k, fromYaml(v, inner(place.path ? `${place.path}.${k}` : k)));
    }
    return out;
  }
  const what =
    value instanceof Uint8Array ? "binary data" : value instanceof Set ? "a set" : "an unsupported value";
  throw new AppError(
    "parameter-invalid",
    `${place.source}: ${place.path || "the document"} is ${what}; use plain YAML values`,
  );
}

// PyYAML's implicit resolvers (yaml/resolver.py) and SafeConstructor conversions, which differ
// from the YAML 1.1 schema of the `yaml` package (it reads `y`, `1e3`, `08` and `.` as values).
const YAML_TAG = "tag:yaml.org,2002:";
const REPLACED_TAGS = new Set(["null", "bool", "int", "float", "timestamp"].map((name) => YAML_TAG + name));

const PYYAML_SCALARS: ScalarTag[] = [
  ...pyyamlTag("null", /^(?:~|null|Null|NULL|)$/, () => null),
  ...pyyamlTag(
    "bool",
    /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
    (text) => BOOL_WORDS.get(text.toLowerCase()),
  ),
  ...pyyamlTag(
    "int",
    /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
    pyyamlInt,
  ),
  ...pyyamlTag(
    "float",
    /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
    pyyamlFloat,
  ),
];

const BOOL_WORDS = new Map([
  ["yes", true],
  ["true", true],
  ["on", true],
  ["no", false],
  ["false", false],
  ["off", false],
]);

/**
 * Two tags for one type: the implicit one, for plain scalars its regex matches, and one without a
 * test, for an explicit `!!int "12"` (the `yaml` package picks a tag without a test first).
 */
function pyyamlTag(name: string, test: RegExp, convert: (text: string) => unknown): ScalarTag[] {
  const tag = YAML_TAG + name;
  const resolve = (text: string, onError: (message: string) => void): unknown => {
    const value = convert(text);
    if (value !== undefined) return value;
    onError(`cannot read ${JSON.stringify(text)} as ${name}`);
    return text;
  };
  return [
    { tag, default: true, test, resolve },
    { tag, resolve },
  ];
}

/** SafeConstructor.construct_yaml_int; undefined where Python's int() would raise. */
function pyyamlInt(text: string): bigint | undefined {
  let digits = text.replaceAll("_", "");
  const negative = digits.startsWith("-");
  if (/^[-+]/.test(digits)) digits = digits.slice(1);
  let value: bigint;
  try {
    if (digits === "0") value = 0n;
    else if (digits.startsWith("0b")) value = BigInt(`0b${digits.slice(2)}`);
    else if (digits.startsWith("0x")) value = BigInt(`0x${digits.slice(2)}`);
    else if (digits.startsWith("0")) value = BigInt(`0o${digits.slice(1)}`);
    else if (digits.includes(":"))
      value = digits.split(":").reduce((sum, part) => sum * 60n + BigInt(part), 0n);
    else value = BigInt(digits);
  } catch {
    return undefined; // `0b_`, `0x_`: no digits
  }
  return negative ? -value : value;
}

/** SafeConstructor.construct_yaml_float; undefined where Python's float() would raise. */
function pyyamlFloat(text: string): number | undefined {
  let digits = text.replaceAll("_", "").toLowerCase();
  const sign = digits.startsWith("-") ? -1 : 1;
  if (/^[-+]/.test(digits)) digits = digits.slice(1);
  if (digits === ".inf") return sign * Infinity;
  if (digits === ".nan") return NaN;
  const value = digits.includes(":")
    ? digits.split(":").reduce((sum, part) => sum * 60 + Number(part), 0)
    : Number(digits);
  return Number.isNaN(value) ? undefined : sign * value;
}
