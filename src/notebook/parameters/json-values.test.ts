import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { parseJsonParameters } from "./json-values.js";
import { ParameterLimitError } from "./limits.js";

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

describe("parseJsonParameters limits", () => {
  const lists = (depth: number) => "[".repeat(depth) + "1" + "]".repeat(depth);

  it("reads values nested up to the limit, and refuses deeper ones naming the first member (422)", () => {
    expect(parseJsonParameters(lists(100), "JSON", { name: "items" })).toBeDefined();
    expect(() => parseJsonParameters(lists(101), "JSON", { name: "items" })).toThrow(ParameterLimitError);
    expect(() =>
      parseJsonParameters(`{"deep": ${lists(100)}}`, "the request body", { name: "body" }),
    ).toThrow(/^parameter "body\.deep" is nested more than 100 levels deep/);
    expect(() => parseJsonParameters(`[0, ${lists(100)}]`, "JSON", { name: "body" })).toThrow(
      /^parameter "body" is nested/,
    );
  });

  it("does not count the top level of a parameters file (no name): its keys are the parameters", () => {
    expect(parseJsonParameters(`{"a": ${lists(100)}}`)).toBeDefined();
    expect(() => parseJsonParameters(`{"a": ${lists(101)}}`)).toThrow(/^parameter "a" is nested/);
  });

  it("refuses text nested 100,000 levels deep quickly, without overflowing the stack", () => {
    const started = performance.now();
    for (const text of [lists(100_000), '{"k":'.repeat(100_000) + "1" + "}".repeat(100_000)]) {
      expect(() => parseJsonParameters(text, "JSON", { name: "body" })).toThrow(ParameterLimitError);
    }
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("refuses ints of more than 10,000 digits before converting them, naming where they are", () => {
    expect(parseJsonParameters("9".repeat(10_000))).toBe(BigInt("9".repeat(10_000)));
    expect(() =>
      parseJsonParameters(`{"a": [1, {"b": -${"9".repeat(10_001)}}]}`, "JSON", { name: "body" }),
    ).toThrow(/^parameter "body\.a\[1\]\.b" is an int of more than 10000 digits/);
    // Floats keep any length (they are numbers: 1e400 is infinity, as in Python).
    expect(parseJsonParameters(`${"9".repeat(20_000)}.5`)).toBe(Infinity);
    expect(parseJsonParameters("1e400")).toBe(Infinity);
  });

  it("reads strings of megabytes, with and without escapes", () => {
    const plain = "a".repeat(5_000_000);
    expect(parseJsonParameters(JSON.stringify({ s: plain }))).toEqual({ s: plain });
    const escaped = 'a\\"b\n'.repeat(1_000_000);
    expect(parseJsonParameters(JSON.stringify([escaped]))).toEqual([escaped]);
  });

  it("reads keys with escapes and odd names as data", () => {
    expect(parseJsonParameters('{"a\\"b": 1, "": 2, "constructor": {"x\\u0000": [ ]}}')).toEqual({
      'a"b': 1n,
      "": 2n,
      constructor: { "x\u0000": [] },
    });
  });
});
