/**
 * @module Python's `int(text)` and `float(text)` on strings, for papermill's CLI type inference
 * and for coercing request strings: surrounding Unicode whitespace, a sign, `_` between digits,
 * any Unicode decimal digits, and for floats `nan`/`inf`/`infinity` in any case.
 */
import { hasTooManyDigits, MAX_INT_DIGITS, tooManyDigits } from "./limits.js";

const WHITESPACE = /^\p{White_Space}+|\p{White_Space}+$/gu;
const DECIMAL_DIGIT = /\p{Nd}/u;
const INT_TEXT = /^[+-]?\d(?:_?\d)*$/;
const FLOAT_TEXT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * `int(text)` in base 10, or undefined where Python raises ValueError. Text of more digits than
 * limits.ts allows is a ParameterLimitError naming `name`, before any conversion (BigInt parsing
 * is quadratic).
 */
export function parsePythonInt(text: string, name = "value"): bigint | undefined {
  const ascii = toAsciiDigits(text.replace(WHITESPACE, ""));
  if (!INT_TEXT.test(ascii)) return undefined;
  const digits = ascii.replaceAll("_", "");
  if (hasTooManyDigits(digits)) throw tooManyDigits(name, MAX_INT_DIGITS);
  return BigInt(digits);
}

/** `float(text)`, or undefined where Python raises ValueError. */
export function parsePythonFloat(text: string): number | undefined {
  const ascii = toAsciiDigits(text.replace(WHITESPACE, ""));
  const special = SPECIAL_FLOAT.exec(ascii);
  if (special) {
    if (special[2]?.toLowerCase() === "nan") return NaN;
    return special[1] === "-" ? -Infinity : Infinity;
  }
  if (!FLOAT_TEXT.test(ascii)) return undefined;
  return Number(ascii.replaceAll("_", ""));
}

/**
 * Replaces non-ASCII decimal digits (Arabic-Indic, fullwidth, …) by ASCII ones, as CPython does
 * before parsing. Unicode keeps each set of decimal digits contiguous, 0 to 9, so a digit's value
 * is its distance from the start of its run, modulo 10.
 */
function toAsciiDigits(text: string): string {
  if (/^\p{ASCII}*$/u.test(text)) return text;
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80 || !DECIMAL_DIGIT.test(ch)) {
      out += ch;
      continue;
    }
    let start = cp;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    out += String((cp - start) % 10);
  }
  return out;
}
