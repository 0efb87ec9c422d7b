import { describe, expect, it } from "vitest";
import { appErrorOf } from "../../../test/support/app-errors.js";
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import { coerceParameter } from "./coerce.js";
import { ParameterLimitError } from "./limits.js";
import type { ParameterDefault, ParamType } from "./types.js";

const expect_ = (type: ParamType, value?: ParamValue): ParameterDefault =>
  value === undefined ? { name: "p", type } : { name: "p", type, default: value };

describe("coerceParameter", () => {
  it.each([
    ["7", 7n],
    [" -12 ", -12n],
    ["1_000", 1000n],
    ["007", 7n],
    ["123456789012345678901234567890", 123456789012345678901234567890n],
  ])("reads the int %j as %s", (raw, value) => {
    expect(coerceParameter("days", raw, expect_("int", 3n))).toBe(value);
  });

  it.each(["3.5", "abc", "", "1e3", "0x10", "1__0", "True"])("refuses %j for an int", (raw) => {
    expect(() => coerceParameter("days", raw, expect_("int", 3n))).toThrow(AppError);
  });

  it("names the parameter, the type, the default and the value in the message", () => {
    const err = appErrorOf(() => coerceParameter("days", "abc", { name: "days", type: "int", default: 3n }));
    expect(err.code).toBe("parameter-invalid");
    expect(err.message).toBe('parameter "days" expects int (default 3); got "abc"');
    expect(
      appErrorOf(() => coerceParameter("rate", "x", { name: "rate", type: "float", default: 1 })).message,
    ).toBe('parameter "rate" expects float (default 1.0); got "x"');
    expect(appErrorOf(() => coerceParameter("xs", "[1", { name: "xs", type: "list" })).message).toBe(
      'parameter "xs" expects list (as JSON); got "[1"',
    );
  });

  it.each([
    ["2", 2],
    ["2.5", 2.5],
    ["-1e-3", -0.001],
    [".5", 0.5],
    ["1_0.5", 10.5],
  ])("reads the float %j as %s", (raw, value) => {
    expect(coerceParameter("rate", raw, expect_("float", 0.5))).toBe(value);
  });

  it("reads nan and infinities as floats", () => {
    expect(coerceParameter("rate", "nan", expect_("float", 0.5))).toBeNaN();
    expect(coerceParameter("rate", "-inf", expect_("float", 0.5))).toBe(-Infinity);
    expect(coerceParameter("rate", "Infinity", expect_("float", 0.5))).toBe(Infinity);
    expect(() => coerceParameter("rate", "1,5", expect_("float", 0.5))).toThrow(/expects float/);
  });

  it.each([
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["On", true],
    ["false", false],
    ["0", false],
    ["no", false],
    [" off ", false],
  ])("reads the bool %j as %s", (raw, value) => {
    expect(coerceParameter("ok", raw, expect_("bool", false))).toBe(value);
  });

  it("refuses other words for a bool", () => {
    expect(() => coerceParameter("ok", "maybe", expect_("bool", false))).toThrow(
      'parameter "ok" expects bool (default false); got "maybe"',
    );
  });

  it("reads None, null and empty for a None default, else keeps the string", () => {
    expect(coerceParameter("x", "", expect_("none", null))).toBe(null);
    expect(coerceParameter("x", "None", expect_("none", null))).toBe(null);
    expect(coerceParameter("x", "null", expect_("none", null))).toBe(null);
    expect(coerceParameter("x", "42", expect_("none", null))).toBe("42");
  });

  it("lets an Optional parameter be None", () => {
    expect(coerceParameter("x", "None", expect_("int", null))).toBe(null);
    expect(coerceParameter("x", "5", expect_("int", null))).toBe(5n);
  });

  it("keeps strings and unknowns as they are", () => {
    expect(coerceParameter("s", " a b ", expect_("str", "x"))).toBe(" a b ");
    expect(coerceParameter("s", "3", expect_("str", "x"))).toBe("3");
    expect(coerceParameter("s", "3", expect_("unknown"))).toBe("3");
  });

  it("reads lists and dicts as JSON, keeping ints apart from floats", () => {
    expect(coerceParameter("xs", '[1, 2.0, "a"]', expect_("list", []))).toEqual([1n, 2, "a"]);
    expect(coerceParameter("d", '{"a": {"b": [1e2]}}', expect_("dict", {}))).toEqual({ a: { b: [100] } });
    expect(() => coerceParameter("xs", '{"a": 1}', expect_("list", []))).toThrow(/expects list/);
    expect(() => coerceParameter("d", "[1]", expect_("dict", {}))).toThrow(/expects dict/);
    expect(() => coerceParameter("d", "a,b", expect_("list"))).toThrow(/expects list \(as JSON\); got "a,b"/);
  });

  it("shortens long values in the message", () => {
    const err = appErrorOf(() => coerceParameter("n", "x".repeat(200), expect_("int")));
    expect(err.message.length).toBeLessThan(130);
  });
});

describe("coerceParameter limits", () => {
  const lists = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

  it("says a list or dict too deep is too deep, naming the parameter (not 'expects list')", () => {
    expect(coerceParameter("items", lists(100), expect_("list", []))).toBeDefined();
    const err = appErrorOf(() => coerceParameter("items", lists(101), expect_("list", [])));
    expect(err).toBeInstanceOf(ParameterLimitError);
    expect(err.message).toMatch(/^parameter "items" is nested more than 100 levels deep/);
    expect(() => coerceParameter("cfg", `{"a": ${lists(100)}}`, expect_("dict", {}))).toThrow(
      /^parameter "cfg\.a" is nested/,
    );
    expect(() => coerceParameter("items", lists(100_000), expect_("list", []))).toThrow(ParameterLimitError);
  });

  it("refuses an int of more than 10,000 digits before converting it; the language's limit comes later", () => {
    expect(coerceParameter("n", "9".repeat(4301), expect_("int", 1n))).toBe(BigInt("9".repeat(4301)));
    expect(() => coerceParameter("n", "9".repeat(10_001), expect_("int", 1n))).toThrow(
      /^parameter "n" is an int of more than 10000 digits/,
    );
    expect(() => coerceParameter("n", `1_${"0".repeat(10_000)}`, expect_("int", 1n))).toThrow(
      ParameterLimitError,
    );
  });
});
