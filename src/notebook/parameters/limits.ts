/**
 * @module The limits on parameter values (docs/api.md, "Limits"): what a kernel's compiler cannot
 * read, refused before any kernel starts with AppError("parameter-invalid") (→ 422) naming the
 * parameter, instead of a SyntaxError inside the run.
 *
 * - Nesting: at most {@link MAX_NESTING_DEPTH} lists/objects inside each other, in every language
 *   (Python's parser stops at 200 nested brackets; 100 leaves room and is deep enough for data).
 * - Ints: at most {@link MAX_INT_DIGITS} decimal digits in every language (reading a bigger one costs
 *   the server seconds of CPU: BigInt parsing is quadratic), and per language:
 *   Python at most 4300 (`sys.int_info.default_max_str_digits`: the compiler refuses a longer
 *   literal); R only what a double holds (R reads `123` as a double, so a larger int would
 *   silently become `Inf`); JavaScript/TypeScript (BigInt literals) and Julia (BigInt literals)
 *   none of their own.
 *
 * The parsers (json-values.ts, coerce.ts, cli-values.ts) enforce the language-free limits while
 * reading, so that nothing deeper is ever built (a recursive walk over a value thousands of levels
 * deep overflows the stack); {@link checkParameterLimits} checks built parameters for a language.
 */
import { AppError } from "../../errors.js";
import type { ParamLanguage, ParamValue, Parameters } from "../types.js";
import { isParamObject } from "./param-values.js";

/** Lists and objects inside each other: `[[1]]` is 2 levels deep. */
export const MAX_NESTING_DEPTH = 100;
/** Decimal digits of an int (sign not counted), in any language. */
export const MAX_INT_DIGITS = 10_000;
/** Python 3.11+'s limit on int literals (`sys.int_info.default_max_str_digits`). */
export const PYTHON_MAX_INT_DIGITS = 4300;

/** An AppError("parameter-invalid") for a value over a limit (parsers let it through as it is). */
export class ParameterLimitError extends AppError {
  constructor(message: string) {
    super("parameter-invalid", message);
    this.name = "ParameterLimitError";
  }
}

export function tooDeep(name: string): ParameterLimitError {
  return new ParameterLimitError(
    `parameter ${quoteName(name)} is nested more than ${MAX_NESTING_DEPTH} levels deep (lists and objects ` +
      `inside each other): send flatter data, or the nested part as a JSON string to parse in the notebook`,
  );
}

export function tooManyDigits(name: string, limit: number, why = ""): ParameterLimitError {
  return new ParameterLimitError(
    `parameter ${quoteName(name)} is an int of more than ${limit} digits${why}: send it as a string ` +
      `and convert it in the notebook`,
  );
}

/** Whether the decimal text of an int (optionally signed) has more than `limit` digits. */
export function hasTooManyDigits(text: string, limit = MAX_INT_DIGITS): boolean {
  const digits = text.length - (text.startsWith("-") || text.startsWith("+") ? 1 : 0);
  return digits > limit;
}

/**
 * Checks every parameter (recursively, stopping one level past the limit, so any depth is safe)
 * against the limits of the module comment for `language`. Throws the first ParameterLimitError,
 * naming the value's path (`body.deep`, `n`, `cities[3]`).
 */
export function checkParameterLimits(parameters: Parameters, language: ParamLanguage): void {
  const checkInt = intCheck(language);
  for (const [name, value] of Object.entries(parameters)) {
    checkValue(value, { path: name, top: name, depth: 1 }, checkInt);
  }
}

/**
 * Nesting only, for values of unknown shape (a webhook's add-time params as JSON): throws
 * ParameterLimitError naming `name` when `value` is deeper than the limit.
 */
export function checkNesting(value: unknown, name: string): void {
  if (isNestedDeeper(value, MAX_NESTING_DEPTH)) throw tooDeep(name);
}

/**
 * Whether `value` has more than `limit` arrays/objects inside each other. Walks without recursion:
 * safe for a value of any depth (JSON.parse builds them 100,000 levels deep without complaint).
 */
export function isNestedDeeper(value: unknown, limit: number): boolean {
  const pending: Array<[item: unknown, depth: number]> = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== "object" || item === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

type IntCheck = (value: bigint, name: string) => void;

/** The int limits of one language: the universal digit limit, then the language's own. */
function intCheck(language: ParamLanguage): IntCheck {
  const universal = digitLimit(MAX_INT_DIGITS, "");
  if (language === "python") {
    return digitLimit(PYTHON_MAX_INT_DIGITS, " (Python's compiler refuses longer int literals)");
  }
  if (language === "r") {
    return (value, name) => {
      universal(value, name);
      if (!Number.isFinite(Number(value))) {
        throw new ParameterLimitError(
          `parameter ${quoteName(name)} is an int larger than R's largest number (about 1.8e308; R reads ` +
            `ints as doubles, so it would become Inf): send it as a string and convert it in the notebook`,
        );
      }
    };
  }
  return universal;
}

/**
 * The smallest int with `limit` + 1 digits, by limit: computed once (10n ** 10000n costs ~0.15 ms,
 * and every call's parameters are checked, twice: as run and as shown).
 */
const bounds = new Map<number, bigint>();

function digitLimit(limit: number, why: string): IntCheck {
  let bound = bounds.get(limit);
  if (bound === undefined) bounds.set(limit, (bound = 10n ** BigInt(limit)));
  return (value, name) => {
    if (value >= bound || value <= -bound) throw tooManyDigits(name, limit, why);
  };
}

/** Where a value is: its full path (for ints), the parameter and first member (for depth). */
interface Place {
  path: string;
  top: string;
  depth: number;
}

function checkValue(value: ParamValue, place: Place, checkInt: IntCheck): void {
  if (typeof value === "bigint") return checkInt(value, place.path);
  if (typeof value !== "object" || value === null) return;
  if (place.depth > MAX_NESTING_DEPTH) throw tooDeep(place.top);
  // The first level's keys name where the nesting is (`body.deep`); list items do not (`items`).
  const inner = (path: string, key: boolean): Place => ({
    path,
    top: place.depth === 1 && key ? path : place.top,
    depth: place.depth + 1,
  });
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkValue(item, inner(`${place.path}[${i}]`, false), checkInt));
  } else if (isParamObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      checkValue(item, inner(memberName(place.path, key), true), checkInt);
    }
  }
}

/** `name.key` for identifier-like keys, `name["odd key"]` for others; long keys shortened. */
export function memberName(name: string, key: string): string {
  if (/^[\p{L}_][\p{L}\p{N}_]{0,39}$/u.test(key)) return `${name}.${key}`;
  const shown = key.length > 40 ? `${key.slice(0, 39)}…` : key;
  return `${name}[${JSON.stringify(shown)}]`;
}

function quoteName(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 119)}…` : name);
}
