/**
 * @module Types from annotations: Python (`Optional[int]`), TypeScript (`number | null`), and how an
 * annotation and a literal value combine into one parameter type.
 */
import type { ParamType } from "./types.js";

/**
 * The value's type wins, except that an annotation decides when the value says nothing useful
 * (None, or an expression), and `x: float = 1` is a float.
 */
export function combineTypes(valueType: ParamType, annotationType: ParamType): ParamType {
  if (annotationType === "unknown") return valueType;
  if (valueType === "none" || valueType === "unknown") return annotationType;
  if (valueType === "int" && annotationType === "float") return "float";
  return valueType;
}

const PYTHON_TYPE_NAMES: Record<string, ParamType> = {
  int: "int",
  float: "float",
  str: "str",
  bool: "bool",
  None: "none",
  NoneType: "none",
  list: "list",
  List: "list",
  tuple: "list",
  Tuple: "list",
  Sequence: "list",
  dict: "dict",
  Dict: "dict",
  Mapping: "dict",
  MutableMapping: "dict",
};

/** The type a Python annotation names: `Optional[int]` and `int | None` are int. */
export function pythonAnnotationType(annotation: string): ParamType {
  let text = annotation.replace(/\s+/g, "");
  const quoted = /^(['"])(.*)\1$/.exec(text);
  if (quoted) text = quoted[2] ?? "";
  text = text.replace(/\b(?:typing|t|collections\.abc)\./g, "");
  const optional = /^Optional\[(.*)\]$/.exec(text);
  if (optional) return pythonAnnotationType(optional[1] ?? "");
  const union = /^Union\[(.*)\]$/.exec(text);
  const members = union ? splitAnnotation(union[1] ?? "", ",") : splitAnnotation(text, "|");
  if (members.length > 1) {
    const rest = members.filter((m) => m !== "None" && m !== "NoneType");
    return rest.length === 1 ? pythonAnnotationType(rest[0] ?? "") : "unknown";
  }
  return PYTHON_TYPE_NAMES[text.replace(/\[.*$/, "")] ?? "unknown";
}

/** Splits annotation text at `separator` outside brackets. */
function splitAnnotation(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "[" || ch === "(" || ch === "<" || ch === "{") depth++;
    else if (ch === "]" || ch === ")" || ch === ">" || ch === "}") depth--;
    if (ch === separator && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

const TS_TYPE_NAMES: Record<string, ParamType> = {
  number: "float",
  bigint: "int",
  string: "str",
  boolean: "bool",
  true: "bool",
  false: "bool",
  null: "none",
  undefined: "none",
  object: "dict",
  Object: "dict",
};

/** The type a TypeScript annotation names: `number | null` is a float, `string[]` a list. */
export function tsAnnotationType(annotation: string): ParamType {
  const text = annotation.replace(/\s+/g, "");
  const members = splitAnnotation(text, "|").filter((m) => m !== "" && m !== "null" && m !== "undefined");
  if (members.length === 0) return "none";
  const types = new Set(members.map(tsMemberType));
  return types.size === 1 ? ([...types][0] ?? "unknown") : "unknown";
}

function tsMemberType(text: string): ParamType {
  if (/^\(.*\)$/.test(text)) return tsAnnotationType(text.slice(1, -1));
  if (/^(['"`]).*\1$/.test(text)) return "str";
  if (/^-?\d+$/.test(text)) return "int";
  if (/^-?[\d.]+(?:e[+-]?\d+)?$/i.test(text)) return "float";
  if (/\[\]$/.test(text) || /^(?:Readonly)?Array<.*>$/.test(text) || text.startsWith("[")) return "list";
  if (/^(?:Record|Readonly)<.*>$/.test(text) || text.startsWith("{")) return "dict";
  return TS_TYPE_NAMES[text] ?? "unknown";
}
