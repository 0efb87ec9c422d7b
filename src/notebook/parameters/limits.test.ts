import { describe, expect, it } from "vitest";
import { appErrorOf } from "../../../test/support/app-errors.js";
import type { ParamValue } from "../types.js";
import {
  checkNesting,
  checkParameterLimits,
  isNestedDeeper,
  MAX_INT_DIGITS,
  MAX_NESTING_DEPTH,
  ParameterLimitError,
  PYTHON_MAX_INT_DIGITS,
} from "./limits.js";

/** `depth` lists inside each other around 1, built without recursion. */
function lists(depth: number): ParamValue {
  let value: ParamValue = 1n;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const int = (digits: number) => BigInt("9".repeat(digits));

describe("checkParameterLimits", () => {
  it("takes values nested up to the limit in every language, and refuses one level more naming the parameter", () => {
    for (const language of ["python", "r", "julia", "javascript", "typescript"] as const) {
      expect(() => checkParameterLimits({ deep: lists(MAX_NESTING_DEPTH) }, language)).not.toThrow();
      const err = appErrorOf(() =>
        checkParameterLimits({ body: { deep: lists(MAX_NESTING_DEPTH) } }, language),
      );
      expect(err).toBeInstanceOf(ParameterLimitError);
      expect(err.code).toBe("parameter-invalid");
      expect(err.message).toMatch(/^parameter "body\.deep" is nested more than 100 levels deep/);
    }
  });

  it("limits Python ints to 4300 digits, naming the value's path", () => {
    expect(() => checkParameterLimits({ n: int(PYTHON_MAX_INT_DIGITS) }, "python")).not.toThrow();
    expect(() => checkParameterLimits({ n: -int(PYTHON_MAX_INT_DIGITS) }, "python")).not.toThrow();
    expect(appErrorOf(() => checkParameterLimits({ n: int(4301) }, "python")).message).toMatch(
      /^parameter "n" is an int of more than 4300 digits \(Python's compiler refuses/,
    );
    expect(
      appErrorOf(() => checkParameterLimits({ body: { a: [1n, { "odd key": -int(4301) }] } }, "python"))
        .message,
    ).toMatch(/^parameter "body\.a\[1\]\[\\"odd key\\"\]" is an int of more than 4300 digits/);
  });

  it("lets JavaScript, TypeScript and Julia have big ints (BigInt literals) up to the general limit", () => {
    for (const language of ["javascript", "typescript", "julia"] as const) {
      expect(() => checkParameterLimits({ n: int(MAX_INT_DIGITS) }, language)).not.toThrow();
      expect(
        appErrorOf(() => checkParameterLimits({ n: int(MAX_INT_DIGITS + 1) }, language)).message,
      ).toMatch(/^parameter "n" is an int of more than 10000 digits/);
    }
  });

  it("refuses for R an int a double cannot hold (R would read it as Inf)", () => {
    expect(() => checkParameterLimits({ n: BigInt(Number.MAX_VALUE) }, "r")).not.toThrow();
    expect(appErrorOf(() => checkParameterLimits({ n: int(309) }, "r")).message).toMatch(
      /^parameter "n" is an int larger than R's largest number/,
    );
  });
});

describe("checkNesting and isNestedDeeper", () => {
  it("measures any depth without recursion", () => {
    let value: unknown = 1;
    for (let i = 0; i < 200_000; i++) value = i % 2 ? [value] : { k: value };
    expect(isNestedDeeper(value, MAX_NESTING_DEPTH)).toBe(true);
    expect(() => checkNesting(value, "params.deep")).toThrow(
      /^parameter "params\.deep" is nested more than 100/,
    );
  });

  it("counts lists and objects inside each other, scalars not", () => {
    expect(isNestedDeeper([[1]], 2)).toBe(false);
    expect(isNestedDeeper([[[]]], 2)).toBe(true);
    expect(isNestedDeeper({ a: [1, { b: "x" }] }, 3)).toBe(false);
    expect(isNestedDeeper("text", 0)).toBe(false);
  });
});
