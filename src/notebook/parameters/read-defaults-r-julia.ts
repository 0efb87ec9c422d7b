/**
 * @module Parameter definitions in R and Julia `parameters` cells, one per line: `name = value`
 * (R also `name <- value`, Julia also `name::Type = value`), where a scalar literal gives a
 * default and `c(`/`list(`/`[`/`Dict(` give a type. Simpler than the Python and JavaScript
 * readers: multi-line values and `;` are not read.
 */
import type { ParamValue } from "../types.js";
import { combineTypes } from "./annotation-types.js";
import { isValidName } from "./names.js";
import { typeOfValue } from "./param-values.js";
import type { ParamType, ParameterDefault, ReadValue } from "./types.js";

const R_LINE = /^([\p{L}.][\p{L}\p{Nd}._]*)\s*(?:<-|=)(?!=)\s*(.*)$/u;
const JULIA_LINE = /^([\p{L}_][\p{L}\p{Nd}_!]*)\s*(?:::\s*([^=]+?))?\s*=(?!=)\s*(.*)$/u;

export function readRDefaults(source: string): ParameterDefault[] {
  return readLines(source, (line) => {
    const m = R_LINE.exec(line);
    if (!m || !isValidName("r", m[1] ?? "")) return undefined;
    return { name: m[1] ?? "", ...readValue(m[2] ?? "", R_WORDS, readRScalar, R_CONTAINERS) };
  });
}

export function readJuliaDefaults(source: string): ParameterDefault[] {
  return readLines(source, (line) => {
    const m = JULIA_LINE.exec(line);
    if (!m || !isValidName("julia", m[1] ?? "")) return undefined;
    const read = readValue(m[3] ?? "", JULIA_WORDS, readJuliaScalar, JULIA_CONTAINERS);
    const annotation = m[2]?.trim();
    if (annotation === undefined) return { name: m[1] ?? "", ...read };
    const type = combineTypes(read.type, JULIA_TYPES[annotation.replace(/\{.*$/, "")] ?? "unknown");
    return { name: m[1] ?? "", ...read, type, annotation };
  });
}

type LineReader = (line: string) => (ReadValue & { name: string; help?: string }) | undefined;

function readLines(source: string, read: LineReader): ParameterDefault[] {
  const found: ParameterDefault[] = [];
  for (const line of source.split(/\r\n|\n|\r/)) {
    if (/^\s/.test(line)) continue; // inside a block
    const result = read(line.trimEnd());
    if (!result) continue;
    const definition: ParameterDefault = { name: result.name, type: result.type };
    if (result.value !== undefined) definition.default = result.value;
    if (result.help) definition.help = result.help;
    found.push(definition);
  }
  return found;
}

const R_WORDS: Record<string, ParamValue> = {
  TRUE: true,
  FALSE: false,
  T: true,
  F: false,
  NULL: null,
  NA: null,
  Inf: Infinity,
  NaN: NaN,
};
const JULIA_WORDS: Record<string, ParamValue> = {
  true: true,
  false: false,
  nothing: null,
  missing: null,
  Inf: Infinity,
  NaN: NaN,
};
const R_CONTAINERS: Array<[RegExp, ParamType]> = [[/^(?:c|list)\(/, "list"]];
const JULIA_CONTAINERS: Array<[RegExp, ParamType]> = [
  [/^(?:\w+)?\[/, "list"],
  [/^Dict\b/, "dict"],
];
const JULIA_TYPES: Record<string, ParamType> = {
  Int: "int",
  Int64: "int",
  Int32: "int",
  Integer: "int",
  Float64: "float",
  Float32: "float",
  Real: "float",
  String: "str",
  AbstractString: "str",
  Bool: "bool",
  Nothing: "none",
  Vector: "list",
  Array: "list",
  Dict: "dict",
};

/** Reads `value  # help`: a scalar literal then an optional comment, else a type guess. */
function readValue(
  text: string,
  words: Record<string, ParamValue>,
  scalar: (text: string) => { value: ParamValue; rest: string } | undefined,
  containers: Array<[RegExp, ParamType]>,
): ReadValue & { help?: string } {
  const word = /^-?([A-Za-z_]\w*)\s*(?:#\s*(.*))?$/.exec(text);
  const named = word ? words[word[1] ?? ""] : undefined;
  if (word && named !== undefined) {
    const value = text.startsWith("-") && typeof named === "number" ? -named : named;
    return withHelp({ type: typeOfValue(value), value }, word[2]);
  }
  const read = scalar(text);
  const comment = read ? /^\s*(?:#\s*(.*))?$/.exec(read.rest) : null;
  if (read && comment) return withHelp({ type: typeOfValue(read.value), value: read.value }, comment[1]);
  const container = containers.find(([start]) => start.test(text));
  if (container) return { type: container[1] };
  if (/^["']/.test(text)) return { type: "str" };
  return { type: "unknown" };
}

function withHelp(read: ReadValue, help: string | undefined): ReadValue & { help?: string } {
  return help ? { ...read, help: help.trim() } : read;
}

/** An R number or string. Plain R numbers are doubles (`3L` is an integer). */
function readRScalar(text: string): { value: ParamValue; rest: string } | undefined {
  const number = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(L?)/.exec(text);
  if (number) {
    const digits = number[0].replace(/L$/, "");
    const value = number[1] === "L" && /^[-+]?\d+$/.test(digits) ? BigInt(digits) : Number(digits);
    return { value, rest: text.slice(number[0].length) };
  }
  return readQuoted(text, false);
}

/** A Julia number or string. `3` is an Int, `3.0` and `1e3` Float64. */
function readJuliaScalar(text: string): { value: ParamValue; rest: string } | undefined {
  const number = /^[-+]?(?:\d(?:_?\d)*(\.\d*)?|(\.)\d+)([eEf][-+]?\d+)?/.exec(text);
  if (number) {
    const clean = number[0].replaceAll("_", "").replace("f", "e");
    const value = number[1] || number[2] || number[3] ? Number(clean) : BigInt(clean);
    return { value, rest: text.slice(number[0].length) };
  }
  return readQuoted(text, true);
}

const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  "0": "\0",
  "\\": "\\",
  '"': '"',
  "'": "'",
  $: "$",
};

/** A quoted string with the common escapes; undefined for anything else (and Julia `$` interpolation). */
function readQuoted(text: string, julia: boolean): { value: ParamValue; rest: string } | undefined {
  const quote = text[0];
  if (quote !== '"' && !(quote === "'" && !julia)) return undefined;
  let out = "";
  for (let i = 1; i < text.length; i++) {
    const ch = text[i] ?? "";
    if (ch === quote) return { value: out, rest: text.slice(i + 1) };
    if (julia && ch === "$") return undefined;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = text[i + 1] ?? "";
    const hex = /^u([0-9a-fA-F]{1,4})|^U([0-9a-fA-F]{1,8})/.exec(text.slice(i + 1));
    if (ESCAPES[next] !== undefined) {
      out += ESCAPES[next];
      i++;
    } else if (hex) {
      const cp = parseInt(hex[1] ?? hex[2] ?? "", 16);
      if (cp > 0x10ffff) return undefined;
      out += String.fromCodePoint(cp);
      i += hex[0].length;
    } else return undefined;
  }
  return undefined;
}
