/**
 * @module The parameters of one webhook call (DESIGN.md, "Request → parameters"), Naas-compatible,
 * and their redaction for everything that is stored.
 *
 * What the injected cell defines, in this order:
 * 1. the webhook's add-time params (`notif_up`, `notif_down`, `next_url`, `inline` included, as
 *    Naas injected them all);
 * 2. `params` (the query string as a dict of strings), `body` (the parsed body) and `headers`
 *    (lower-cased names, first value of each; secret-looking headers are `"<redacted>"`, even in
 *    the kernel);
 * 3. the flattened request: every top-level key of the query and of an object body that is a
 *    valid identifier in the kernel's language. The body wins over the query (as Naas did before
 *    2021). Query and form strings are coerced to the type of the name's literal default in the
 *    notebook's `parameters` cell; JSON values keep their JSON types.
 *
 * A flattened key never replaces a name of 1. or 2.: the deployer's settings and Naas's
 * `params`/`body`/`headers` cannot be changed by a caller (the value is still in `params`/`body`).
 * Dunder names (`__x__`) are not flattened either: they are the interpreter's. Keys that are not
 * identifiers are only reachable through `params`/`body`.
 */
import {
  checkParameterLimits,
  coerceParameter,
  isValidName,
  readParameterDefaults,
} from "../notebook/parameters/index.js";
import type { Notebook, ParamLanguage, ParamValue, Parameters } from "../notebook/types.js";

/** What a request carried, parsed by the HTTP layer (src/server/request-input.ts). */
export interface RequestInput {
  /** Query string, each key's last value (blank values kept). */
  query: Record<string, string>;
  /** Header names lower-cased, each header's first value; not yet redacted. */
  headers: Record<string, string>;
  body: RequestBody;
  /** The folder holding the files the request uploaded (multipart), if any. */
  uploadsDir?: string;
}

export type RequestBody =
  | { kind: "none" }
  /** `application/json`: any JSON value, ints as bigint, floats as number. */
  | { kind: "json"; value: ParamValue }
  /** `application/x-www-form-urlencoded`: each key's last value. */
  | { kind: "form"; fields: Record<string, string> }
  /** `multipart/form-data`: fields, and each file field's absolute path (a list when several). */
  | { kind: "multipart"; fields: Record<string, string>; files: Record<string, string | string[]> }
  /** Any other content type: the body as UTF-8 text (Naas's `{"str": …}`). */
  | { kind: "text"; text: string };

export const REDACTED = "<redacted>";

/**
 * Key and header names whose values are secrets: matched anywhere in the name, any case
 * (`password`, `db_pass`word, `X-Api-Key`, `accessToken`, `client_secret`, `Authorization`,
 * `Cookie`, `session_id`, `X-Hub-Signature`…). `auth` matches in `authorization` and `x-auth` but
 * not in `author`/`authored` (`or` not followed by `i`).
 */
const SECRET_NAME =
  /passw|passphrase|^pass$|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|auth(?!or(?!i))|cookie|session|credential|signature/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export interface BuildParametersInput {
  /** The version about to run (for the defaults of its `parameters` cell). */
  notebook: Notebook;
  language: ParamLanguage;
  /** The webhook's add-time params. */
  addParams: Record<string, unknown>;
  request: RequestInput;
}

/**
 * The parameters to inject. Throws AppError("parameter-invalid") (→ 422) when a query or form
 * string cannot be coerced to its default's type (the message names the parameter and the type),
 * or when a value is over what `language` can read (nesting, int digits: see
 * notebook/parameters/limits.ts; the message names the parameter, e.g. `body.deep` or `n`).
 */
export function buildWebhookParameters(input: BuildParametersInput): Parameters {
  const { language, request } = input;
  const out: Parameters = {};
  for (const [key, value] of Object.entries(input.addParams)) {
    const param = toParamValue(value);
    if (param !== undefined && isFlattenable(language, key)) setOwn(out, key, param);
  }
  setOwn(out, "params", recordOf(request.query));
  setOwn(out, "body", bodyValue(request.body));
  setOwn(out, "headers", recordOf(kernelHeaders(request.headers)));

  const fixed = new Set(Object.keys(out));
  const defaults = new Map(readParameterDefaults(input.notebook, language).map((d) => [d.name, d]));
  const coerce = (key: string, raw: string): ParamValue => {
    const expected = defaults.get(key);
    return expected ? coerceParameter(key, raw, expected) : raw;
  };
  const flattened: Parameters = {};
  for (const [key, raw] of Object.entries(request.query)) setOwn(flattened, key, raw);
  const body = request.body;
  if (body.kind === "json" && isObject(body.value)) {
    for (const [key, value] of Object.entries(body.value)) setOwn(flattened, key, value);
  } else if (body.kind === "form" || body.kind === "multipart") {
    for (const [key, raw] of Object.entries(body.fields)) setOwn(flattened, key, raw);
  }
  if (body.kind === "multipart") {
    for (const [key, paths] of Object.entries(body.files)) setOwn(flattened, key, paths);
  }
  for (const [key, value] of Object.entries(flattened)) {
    if (fixed.has(key) || !isFlattenable(language, key)) continue;
    setOwn(out, key, isCoercible(key, body) && typeof value === "string" ? coerce(key, value) : value);
  }
  checkParameterLimits(out, language);
  return out;
}

/** Whether the flattened `key` came as a string to coerce (query or form field, not JSON, not a file). */
function isCoercible(key: string, body: RequestBody): boolean {
  if (body.kind === "json") return !(isObject(body.value) && Object.hasOwn(body.value, key));
  if (body.kind === "multipart") return !Object.hasOwn(body.files, key);
  return true;
}

function isFlattenable(language: ParamLanguage, key: string): boolean {
  return !/^__.*__$/.test(key) && isValidName(language, key);
}

/** The `body` variable: the parsed body; `{}` without one (Naas: `{"str": ""}`, truthy). */
function bodyValue(body: RequestBody): ParamValue {
  switch (body.kind) {
    case "none":
      return {};
    case "json":
      return body.value;
    case "form":
      return recordOf(body.fields);
    case "multipart": {
      const out = recordOf(body.fields);
      for (const [key, paths] of Object.entries(body.files)) setOwn(out, key, paths);
      return out;
    }
    case "text":
      return { str: body.text };
  }
}

/** Headers as the kernel sees them: secret-looking ones (Authorization, Cookie, X-Api-Key…) redacted. */
export function kernelHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    Object.defineProperty(out, name.toLowerCase(), {
      value: isSecretName(name) ? REDACTED : value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * A copy of `value` where every value under a secret-looking key (see {@link isSecretName}), at any
 * depth, is `"<redacted>"`. For run records, logs and the saved output notebook.
 */
export function redactParameters<T extends ParamValue>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => redactParameters(item)) as T;
  if (!isObject(value)) return value;
  const out: { [key: string]: ParamValue } = {};
  for (const [key, item] of Object.entries(value)) {
    setOwn(out, key, isSecretName(key) && item !== null && item !== "" ? REDACTED : redactParameters(item));
  }
  return out as T;
}

/** An add-time param as a ParamValue (stored as JSON: integral numbers become ints). */
function toParamValue(value: unknown): ParamValue | undefined {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((item) => toParamValue(item) ?? null);
  if (typeof value === "object") {
    const out: { [key: string]: ParamValue } = {};
    for (const [key, item] of Object.entries(value)) {
      const converted = toParamValue(item);
      if (converted !== undefined) setOwn(out, key, converted);
    }
    return out;
  }
  return undefined;
}

function recordOf(values: Record<string, string>): { [key: string]: ParamValue } {
  const out: { [key: string]: ParamValue } = {};
  for (const [key, value] of Object.entries(values)) setOwn(out, key, value);
  return out;
}

function isObject(value: ParamValue | undefined): value is { [key: string]: ParamValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Sets an own property even for `__proto__` (a request key is data, never a prototype). */
function setOwn(target: { [key: string]: ParamValue }, key: string, value: ParamValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
