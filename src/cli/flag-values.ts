/**
 * Numeric flags, for commander's argParser. Strict (no "", "0x10", "1e3"), and a bad value is a
 * usage error worded like the server's settings: `--limit must be a whole number from 1 to 1000
 * (got "x")`.
 */
import { AppError } from "../errors.js";

/** Seconds, fractions allowed: greater than 0, or with `zeroMeans` 0 too (said in the message). */
export function secondsFlag(flag: string, options: { zeroMeans?: string } = {}): (text: string) => number {
  const must = options.zeroMeans
    ? `a number of seconds (0: ${options.zeroMeans})`
    : "a number of seconds greater than 0";
  return (text) => {
    const n = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
    if (Number.isNaN(n) || (n === 0 && !options.zeroMeans)) throw badFlag(flag, must, text);
    return n;
  };
}

/** A whole number from `min` to `max`. */
export function wholeNumberFlag(
  flag: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): (text: string) => number {
  const must =
    max === Number.MAX_SAFE_INTEGER
      ? `a whole number, at least ${min}`
      : `a whole number from ${min} to ${max}`;
  return (text) => {
    const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
    if (!(n >= min && n <= max)) throw badFlag(flag, must, text);
    return n;
  };
}

function badFlag(flag: string, must: string, text: string): AppError {
  return new AppError("usage", `${flag} must be ${must} (got ${JSON.stringify(text)})`);
}
