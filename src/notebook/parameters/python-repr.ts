/**
 * @module Python's own spellings of floats and strings, reproduced so that nbhook writes the same
 * characters papermill 2.x writes (`repr(float)` and `str.encode("unicode_escape")`). Written by
 * hand: no npm package reproduces CPython's repr rules.
 */

/**
 * `repr(x)` for a finite Python float: shortest round-trip digits (the same digits as JS
 * `Number#toString`), positional when the decimal exponent is in [-4, 16), else scientific with a
 * signed exponent of at least two digits (`1e-05`, `1.5e+16`); integral values get `.0`.
 * Non-finite values give `nan`, `inf`, `-inf` like Python; callers that need source code spell
 * those themselves.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  // toExponential() without an argument gives the shortest digits that round-trip.
  const match = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
  if (!match) throw new Error(`unexpected exponential form for ${x}`);
  const digits = (match[1] ?? "") + (match[2] ?? "");
  const exponent = Number(match[3]);
  if (exponent < -4 || exponent >= 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exponent < 0 ? "-" : "+";
    return `${sign}${mantissa}e${expSign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  const point = exponent + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * `s.encode("unicode_escape").decode("utf-8")`: backslash doubled, `\t` `\n` `\r` spelled, other
 * code points below 0x20 and from 0x7f up written as `\xNN`, `\uNNNN` or `\UNNNNNNNN` (lowercase
 * hex). Quotes are left alone. Lone surrogates come out as `\udNNN`, as in Python.
 */
export function pythonUnicodeEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp < 0x100) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out;
}

/** papermill's `translate_escaped_str`: unicode-escaped, `"` escaped, in double quotes. */
export function papermillEscapedString(s: string): string {
  return `"${pythonUnicodeEscape(s).replaceAll('"', '\\"')}"`;
}

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, "0");
}

/** Python's `str.strip()` whitespace: Unicode White_Space plus the four separators 0x1c-0x1f. */
// eslint-disable-next-line no-control-regex -- Python counts 0x1c-0x1f as whitespace
const PY_STRIP = /^[\p{White_Space}\x1c-\x1f]+|[\p{White_Space}\x1c-\x1f]+$/gu;

export function pythonStrip(s: string): string {
  return s.replace(PY_STRIP, "");
}
