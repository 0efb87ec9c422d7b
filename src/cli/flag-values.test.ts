import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { secondsFlag, wholeNumberFlag } from "./flag-values.js";

function usageMessage(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("usage");
    return (err as AppError).message;
  }
  throw new Error("expected a usage error");
}

describe("secondsFlag", () => {
  it("takes whole and fractional seconds", () => {
    expect(secondsFlag("--timeout")("30")).toBe(30);
    expect(secondsFlag("--timeout")("0.5")).toBe(0.5);
  });

  it("refuses 0 unless 0 means something, and says what", () => {
    expect(usageMessage(() => secondsFlag("--timeout")("0"))).toBe(
      '--timeout must be a number of seconds greater than 0 (got "0")',
    );
    expect(secondsFlag("--timeout", { zeroMeans: "no limit" })("0")).toBe(0);
    expect(usageMessage(() => secondsFlag("--timeout", { zeroMeans: "no limit" })("-1"))).toBe(
      '--timeout must be a number of seconds (0: no limit) (got "-1")',
    );
  });

  it("refuses text Number() would take: empty, hex, exponents", () => {
    for (const text of ["", " ", "0x10", "1e3", "Infinity"])
      expect(() => secondsFlag("--timeout")(text)).toThrow(AppError);
  });
});

describe("wholeNumberFlag", () => {
  it("takes a whole number within its bounds and names the flag and bounds otherwise", () => {
    const limit = wholeNumberFlag("--limit", 1, 1000);
    expect(limit("50")).toBe(50);
    expect(usageMessage(() => limit("1001"))).toBe(
      '--limit must be a whole number from 1 to 1000 (got "1001")',
    );
    expect(usageMessage(() => wholeNumberFlag("--reuse-calls", 1)("2.5"))).toBe(
      '--reuse-calls must be a whole number, at least 1 (got "2.5")',
    );
  });
});
