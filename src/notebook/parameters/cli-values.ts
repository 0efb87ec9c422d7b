/**
 * @module Parameter values from the command line, as papermill's CLI reads them: `-p name value`
 * infers the type (`_resolve_type`), `-r` keeps the string (nothing to do here), `-f file` and
 * `-y text` are YAML (papermill uses `yaml.safe_load`, YAML 1.1), and a `.json` file is JSON.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import { AppError } from "../../errors.js";
import type { ParamValue, Parameters } from "../types.js";
import { parseJsonParameters } from "./json-values.js";
import { isParamObject, setOwn } from "./param-values.js";
import { parsePythonFloat, parsePythonInt } from "./python-numbers.js";

/**
 * papermill's `_resolve_type`: exactly "True"/"False"/"None" become bool/None; text Python's
 * `int()` accepts becomes an int (bigint); text `float()` accepts becomes a float; anything else
 * stays a string.
 *
 * @example inferCliValue("1_000") // 1000n
 * @example inferCliValue(" -Infinity ") // -Infinity
 */
export function inferCliValue(text: string): ParamValue {
  if (text === "True") return true;
  if (text === "False") return false;
  if (text === "None") return null;
  return parsePythonInt(text) ?? parsePythonFloat(text) ?? text;
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
 * Parses YAML text (papermill's `-y`, or a `-f` file) into parameters. Integers stay bigints,
 * floats numbers (`.nan`, `.inf` included); timestamps stay strings (PyYAML would make datetimes
 * that papermill then writes as their `str()`); YAML 1.1 spellings (`yes`, `off`, `0x1f`, `1_000`,
 * `<<` merges) are read as PyYAML reads them.
 */
export function parseYamlParameters(text: string, source = "YAML parameters"): Parameters {
  const doc = parseDocument(text, {
    version: "1.1",
    intAsBigInt: true,
    customTags: (tags) =>
      tags.filter((tag) => (typeof tag === "string" ? tag !== "timestamp" : !tag.tag.endsWith(":timestamp"))),
  });
  if (doc.errors.length > 0) {
    throw new AppError("parameter-invalid", `${source} is not valid YAML: ${doc.errors[0]?.message ?? ""}`);
  }
  const value = fromYaml(doc.toJS({ maxAliasCount: 1000 }) as unknown, source, "");
  if (value === null) return {};
  if (!isParamObject(value)) throw notAMapping(source, value);
  return value;
}

function notAMapping(source: string, value: ParamValue): AppError {
  const kind = Array.isArray(value) ? "a list" : value === null ? "empty" : `a ${typeof value}`;
  return new AppError("parameter-invalid", `${source} must be a mapping of names to values; it is ${kind}`);
}

/** Checks that what the YAML library produced is a ParamValue (binary, sets, … are not). */
function fromYaml(value: unknown, source: string, path: string): ParamValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
    case "bigint":
    case "number":
      return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => fromYaml(v, source, `${path}[${i}]`));
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: { [key: string]: ParamValue } = {};
    for (const [k, v] of Object.entries(value))
      setOwn(out, k, fromYaml(v, source, path ? `${path}.${k}` : k));
    return out;
  }
  const what =
    value instanceof Uint8Array ? "binary data" : value instanceof Set ? "a set" : "an unsupported value";
  throw new AppError(
    "parameter-invalid",
    `${source}: ${path || "the document"} is ${what}; use plain YAML values`,
  );
}
