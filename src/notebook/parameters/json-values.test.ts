import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { parseJsonParameters } from "./json-values.js";

describe("parseJsonParameters", () => {
  it("reads integers as bigints and other numbers as floats", () => {
    expect(parseJsonParameters("3")).toBe(3n);
    expect(parseJsonParameters("3.0")).toBe(3);
    expect(parseJsonParameters("1e3")).toBe(1000);
    expect(parseJsonParameters("-0")).toBe(0n);
    expect(parseJsonParameters("-0.0")).toBe(-0);
    expect(parseJsonParameters("12345678901234567890")).toBe(12345678901234567890n);
  });

  it("reads nested structures, strings and literals", () => {
    expect(
      parseJsonParameters(
        ' { "a" : [ 1 , 2.5 , "x\\n\\u00e9" , true , false , null ] , "b" : { } , "c" : [ ] } ',
      ),
    ).toEqual({
      a: [1n, 2.5, "x\né", true, false, null],
      b: {},
      c: [],
    });
  });

  it("keeps __proto__ as an ordinary key", () => {
    const value = parseJsonParameters('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("lets the last duplicate key win, in the first one's place", () => {
    expect(Object.entries(parseJsonParameters('{"a": 1, "b": 2, "a": 3}') as object)).toEqual([
      ["a", 3n],
      ["b", 2n],
    ]);
  });

  it("refuses text that is not JSON, naming the source", () => {
    expect(() => parseJsonParameters("{a: 1}", "request body")).toThrow(AppError);
    expect(() => parseJsonParameters("{a: 1}", "request body")).toThrow(/^request body is not valid JSON/);
    expect(() => parseJsonParameters("")).toThrow(/not valid JSON/);
    expect(() => parseJsonParameters("NaN")).toThrow(/not valid JSON/);
  });
});
