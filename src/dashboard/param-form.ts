/**
 * The Try page's form, without the page: a field per parameter of the notebook's `parameters`
 * cell, its text in the form, and the values sent (JSON keeps the types: 3 is an int, 3.0 a
 * float, true a bool, lists and dicts as JSON).
 */
import type { WebhookParameterJson } from "../api/schemas.js";

/** A parameter as `GET /api/webhooks/{id}/parameters` lists it: name, type, default, annotation, help. */
export type FieldSpec = WebhookParameterJson;

/** What the form shows at first: the notebook's default. */
export function initialText(field: FieldSpec): string {
  const value = field.default;
  if (value === undefined || value === null) return "";
  if (field.type === "str" && typeof value === "string") return value;
  if (typeof value === "string" && field.type !== "list" && field.type !== "dict") return value;
  return JSON.stringify(value);
}

/** A whole number too large for a JavaScript number, kept as its digits. */
export class BigInteger {
  constructor(readonly digits: string) {}
  toJSON(): string {
    return this.digits;
  }
}

export type Parsed = { value: unknown } | { omit: true } | { error: string };

/** The value a field's text stands for, typed as the notebook's default is. */
export function parseField(field: FieldSpec, text: string): Parsed {
  const trimmed = text.trim();
  switch (field.type) {
    case "str":
      return { value: text };
    case "bool":
      if (/^(true|1|yes|on)$/i.test(trimmed)) return { value: true };
      if (/^(false|0|no|off)$/i.test(trimmed)) return { value: false };
      return trimmed === "" ? { omit: true } : { error: "must be true or false" };
    case "int": {
      if (trimmed === "") return { omit: true };
      if (!/^[+-]?\d+$/.test(trimmed)) return { error: "must be a whole number, such as 42" };
      const n = Number(trimmed);
      // Beyond 2^53 a JavaScript number loses digits: the digits are sent as they are.
      return { value: Number.isSafeInteger(n) ? n : new BigInteger(trimmed.replace(/^\+/, "")) };
    }
    case "float": {
      if (trimmed === "") return { omit: true };
      const n = Number(trimmed);
      if (!Number.isFinite(n)) return { error: "must be a number, such as 2.5" };
      return { value: n }; // a whole one is written 3.0 in the body (jsonBody), so it stays a float
    }
    case "list":
    case "dict": {
      if (trimmed === "") return { omit: true };
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch {
        return {
          error:
            field.type === "list"
              ? 'must be a JSON list, such as ["a", 1]'
              : 'must be a JSON object, such as {"a": 1}',
        };
      }
      const ok =
        field.type === "list"
          ? Array.isArray(value)
          : typeof value === "object" && value !== null && !Array.isArray(value);
      return ok
        ? { value }
        : { error: field.type === "list" ? "must be a JSON list" : "must be a JSON object" };
    }
    default: {
      if (trimmed === "") return { omit: true };
      try {
        return { value: JSON.parse(trimmed) };
      } catch {
        return { value: text };
      }
    }
  }
}

export interface FormValues {
  values: Record<string, unknown>;
  errors: Record<string, string>;
}

/** Every field's value, or what is wrong with it; `extra` is a JSON object of more parameters. */
export function readForm(fields: FieldSpec[], texts: Record<string, string>, extra = ""): FormValues {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  if (extra.trim()) {
    try {
      const parsed: unknown = JSON.parse(extra);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error();
      Object.assign(values, parsed);
    } catch {
      errors["(more parameters)"] = 'must be a JSON object, such as {"name": "value"}';
    }
  }
  for (const field of fields) {
    const parsed = parseField(field, texts[field.name] ?? initialText(field));
    if ("error" in parsed) errors[field.name] = parsed.error;
    else if ("value" in parsed) values[field.name] = parsed.value;
  }
  return { values, errors };
}

/**
 * The JSON body of a call: as JSON.stringify, except that a float parameter holding a whole number
 * is written `3.0`, which the server reads as a float (JSON values keep their JSON types).
 */
export function jsonBody(values: Record<string, unknown>, fields: FieldSpec[]): string {
  const floats = new Set(fields.filter((f) => f.type === "float").map((f) => f.name));
  const parts = Object.entries(values).map(([name, value]) => {
    let text = JSON.stringify(value);
    if (value instanceof BigInteger)
      text = value.digits; // a JSON number, every digit kept
    // 3 would arrive as an int; 1e+21 is already read as a float.
    else if (floats.has(name) && typeof value === "number" && /^-?\d+$/.test(text)) text = `${text}.0`;
    return `${JSON.stringify(name)}:${text}`;
  });
  return `{${parts.join(",")}}`;
}

/** A value as a multipart field's text (the server coerces it to the parameter's type). */
export function fieldText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof BigInteger) return value.digits;
  if (typeof value === "boolean") return value ? "true" : "false";
  return JSON.stringify(value);
}
