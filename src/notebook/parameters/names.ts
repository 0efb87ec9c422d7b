/**
 * @module Which parameter names can become variables in each kernel language. papermill writes
 * any key as-is and a bad one fails the run with a SyntaxError in the kernel; nbhook refuses it
 * up front with a message naming the key.
 */
import { AppError } from "../../errors.js";
import type { ParamLanguage } from "../types.js";

// Hard keywords of Python 3.11+ (soft keywords such as `match`, `case`, `type` are valid names),
// plus `__debug__`, which cannot be assigned.
const PYTHON_RESERVED = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try while " +
    "with yield __debug__"
  ).split(" "),
);

const R_RESERVED = new Set(
  (
    "if else repeat while function for in next break TRUE FALSE NULL Inf NaN NA NA_integer_ " +
    "NA_real_ NA_character_ NA_complex_ ..."
  ).split(" "),
);

const JULIA_RESERVED = new Set(
  (
    "baremodule begin break catch const continue do else elseif end export false finally for " +
    "function global if import let local macro module quote return struct true try using while " +
    "where in isa"
  ).split(" "),
);

// Reserved words of strict-mode ECMAScript (Deno evaluates cells as modules, which are strict),
// plus names that strict code cannot bind or that are read-only globals.
const JS_RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends " +
    "false finally for function if import in instanceof new null return super switch this throw " +
    "true try typeof var void while with yield let static implements interface package private " +
    "protected public await eval arguments undefined NaN Infinity"
  ).split(" "),
);

const PYTHON_IDENTIFIER = /^[\p{XID_Start}_]\p{XID_Continue}*$/u;
const R_IDENTIFIER = /^(?:\p{L}[\p{L}\p{Nd}._]*|\.(?:[\p{L}._][\p{L}\p{Nd}._]*)?)$/u;
const JULIA_IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}\p{Mn}\p{Mc}\p{Pc}!′″‴]*$/u;
const JS_IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

/**
 * The variable name papermill writes for `key`: R drops leading underscores (they are not legal
 * there); every other language keeps the key.
 */
export function variableName(language: ParamLanguage, key: string): string {
  return language === "r" ? key.replace(/^_+/, "") : key;
}

/**
 * Why `key` cannot be a variable in `language`, or undefined when it can. The key is checked as
 * papermill would write it (see {@link variableName}).
 */
export function nameProblem(language: ParamLanguage, key: string): string | undefined {
  const name = variableName(language, key);
  switch (language) {
    case "python":
      if (!PYTHON_IDENTIFIER.test(name)) return "it is not a Python identifier";
      if (PYTHON_RESERVED.has(name)) return `${name} is a reserved word in Python`;
      if (name.normalize("NFKC") !== name)
        return `Python would read it as ${JSON.stringify(name.normalize("NFKC"))} (NFKC)`;
      return undefined;
    case "r":
      if (name === "") return "R names cannot be only underscores";
      if (!R_IDENTIFIER.test(name) || /^\.\d/.test(name)) return "it is not a syntactic R name";
      if (R_RESERVED.has(name) || /^\.\.\d+$/.test(name)) return `${name} is a reserved word in R`;
      return undefined;
    case "julia":
      if (!JULIA_IDENTIFIER.test(name)) return "it is not a Julia identifier";
      if (/^_+$/.test(name)) return "all-underscore names are write-only in Julia";
      if (JULIA_RESERVED.has(name)) return `${name} is a reserved word in Julia`;
      return undefined;
    case "javascript":
    case "typescript":
      if (!JS_IDENTIFIER.test(name)) return "it is not a JavaScript identifier";
      if (JS_RESERVED.has(name)) return `${name} is a reserved word in JavaScript`;
      return undefined;
  }
}

/** Throws AppError("parameter-invalid") when `key` cannot be a variable in `language`. */
export function validateName(language: ParamLanguage, key: string): void {
  const problem = nameProblem(language, key);
  if (problem !== undefined) {
    throw new AppError(
      "parameter-invalid",
      `parameter ${JSON.stringify(key)} cannot be set in a ${language} notebook: ${problem}; rename it`,
    );
  }
}

/** True when `key` can be a variable in `language`. */
export function isValidName(language: ParamLanguage, key: string): boolean {
  return nameProblem(language, key) === undefined;
}
