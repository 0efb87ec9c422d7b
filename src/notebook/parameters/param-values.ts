/**
 * @module Small operations on ParamValue trees shared by the parsers, translators and coercion.
 */
import type { ParamValue } from "../types.js";
import { pythonFloatRepr } from "./python-repr.js";
import type { ParamType } from "./types.js";

export function isParamObject(value: ParamValue): value is { [key: string]: ParamValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The type of a value: a bigint is an int, a number a float. */
export function typeOfValue(value: ParamValue): ParamType {
  if (value === null) return "none";
  if (Array.isArray(value)) return "list";
  switch (typeof value) {
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "number":
      return "float";
    case "string":
      return "str";
    default:
      return "dict";
  }
}

/**
 * Sets an own enumerable property, even for keys like `__proto__` that a plain assignment would
 * turn into a prototype change. Re-setting a key keeps its first position (like a Python dict).
 */
export function setOwn(target: { [key: string]: ParamValue }, key: string, value: ParamValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** JSON-safe form: bigints become numbers, NaN and ±Infinity become null (as JSON.stringify does). */
export function toJsonValue(value: ParamValue): unknown {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (isParamObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: toJsonValue(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** A short, readable spelling of a value for error messages (JSON-like; ints without quotes). */
export function describeValue(value: ParamValue, max = 60): string {
  const text = describe(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function describe(value: ParamValue): string {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return pythonFloatRepr(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  if (isParamObject(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${describe(v)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(value);
}
