import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import { translateParameters, translateValue } from "./translators.js";

// Expected strings were produced with CPython 3.11 (`repr(float)`, papermill's translate_escaped_str).
const FLOATS: Array<[number, string]> = [
  [0.1, "0.1"],
  [1e16, "1e+16"],
  [1e15, "1000000000000000.0"],
  [1e-5, "1e-05"],
  [0.0001, "0.0001"],
  [0.00012, "0.00012"],
  [123456789.123, "123456789.123"],
  [-0, "-0.0"],
  [0, "0.0"],
  [3, "3.0"],
  [100, "100.0"],
  [-5432.1, "-5432.1"],
  [5e-324, "5e-324"],
  [1.7976931348623157e308, "1.7976931348623157e+308"],
  [1.5e16, "1.5e+16"],
  [1e22, "1e+22"],
  [1.23e-18, "1.23e-18"],
  [2 ** 70, "1.1805916207174113e+21"],
  [1 / 3, "0.3333333333333333"],
  [12345678901234568, "1.2345678901234568e+16"],
  [9007199254740992, "9007199254740992.0"],
];

const STRINGS: Array<[string, string]> = [
  ["foo", String.raw`"foo"`],
  ["it's", String.raw`"it's"`],
  ['say "hi"', String.raw`"say \"hi\""`],
  ["back\\slash", String.raw`"back\\slash"`],
  ["a\nb", String.raw`"a\nb"`],
  ["tab\there", String.raw`"tab\there"`],
  ["cr\r", String.raw`"cr\r"`],
  ["\x00", String.raw`"\x00"`],
  ["\x7f", String.raw`"\x7f"`],
  ["\x1b[0m", String.raw`"\x1b[0m"`],
  ["é", String.raw`"\xe9"`],
  ["\u00a0", String.raw`"\xa0"`],
  ["ÿĀ", String.raw`"\xff\u0100"`],
  ["€", String.raw`"\u20ac"`],
  ["😀", String.raw`"\U0001f600"`],
  ["\ud800", String.raw`"\ud800"`],
  ['{"foo": "bar"}', String.raw`"{\"foo\": \"bar\"}"`],
  ["", `""`],
];

describe("translateValue('python')", () => {
  it.each(FLOATS)("writes the float %s as Python's repr %s", (value, expected) => {
    expect(translateValue("python", value)).toBe(expected);
  });

  it("writes nan and the infinities as float() calls", () => {
    expect(translateValue("python", NaN)).toBe("float('nan')");
    expect(translateValue("python", Infinity)).toBe("float('inf')");
    expect(translateValue("python", -Infinity)).toBe("float('-inf')");
  });

  it.each(STRINGS)("escapes %j as papermill does: %s", (value, expected) => {
    expect(translateValue("python", value)).toBe(expected);
  });

  it("writes ints in decimal, however large", () => {
    expect(translateValue("python", 12345n)).toBe("12345");
    expect(translateValue("python", -54321n)).toBe("-54321");
    expect(translateValue("python", 123456789012345678901234567890n)).toBe("123456789012345678901234567890");
  });

  it("writes True, False and None", () => {
    expect(translateValue("python", true)).toBe("True");
    expect(translateValue("python", false)).toBe("False");
    expect(translateValue("python", null)).toBe("None");
  });

  it("writes lists and dicts recursively, keys as strings", () => {
    expect(translateValue("python", [])).toBe("[]");
    expect(translateValue("python", {})).toBe("{}");
    expect(translateValue("python", { foo: '"bar"' })).toBe(String.raw`{"foo": "\"bar\""}`);
    expect(translateValue("python", [{ foo: "bar" }, 1n, 1, [null, true]])).toBe(
      '[{"foo": "bar"}, 1, 1.0, [None, True]]',
    );
    expect(translateValue("python", { "é\n": { x: [] } })).toBe(String.raw`{"\xe9\n": {"x": []}}`);
  });

  it("refuses values that are not parameter values", () => {
    expect(() => translateValue("python", { f: (() => 1) as unknown as ParamValue }, "p")).toThrow(
      /parameter p\.f/,
    );
  });
});

describe("translateParameters('python')", () => {
  it("writes a comment then one assignment per key, in order", () => {
    expect(translateParameters("python", { foo: "bar", baz: ["buz"], n: 5n, x: 1.1, ok: true })).toBe(
      '# Parameters\nfoo = "bar"\nbaz = ["buz"]\nn = 5\nx = 1.1\nok = True\n',
    );
  });

  it("writes only the comment for no parameters", () => {
    expect(translateParameters("python", {})).toBe("# Parameters\n");
  });

  it("uses the given comment, stripped, with line breaks made spaces", () => {
    expect(translateParameters("python", { a: 1n }, "Injected")).toBe("# Injected\na = 1\n");
    expect(translateParameters("python", {}, "")).toBe("#\n");
    expect(translateParameters("python", {}, "two\nlines  ")).toBe("# two lines\n");
  });

  it("refuses keys that are not Python identifiers, naming them", () => {
    expect(() => translateParameters("python", { "my-key": 1n })).toThrow(AppError);
    expect(() => translateParameters("python", { "my-key": 1n })).toThrow(
      /"my-key".*not a Python identifier/,
    );
    expect(() => translateParameters("python", { class: 1n })).toThrow(/class is a reserved word/);
  });
});

describe("translateParameters('r')", () => {
  it("writes papermill's R literals", () => {
    expect(
      translateParameters("r", {
        foo: "bar",
        t: true,
        f: false,
        n: null,
        i: 5n,
        x: 1.1,
        l: ["a", 1n],
        d: { bar: "baz" },
      }),
    ).toBe(
      '# Parameters\nfoo = "bar"\nt = TRUE\nf = FALSE\nn = NULL\ni = 5\nx = 1.1\nl = list("a", 1)\nd = list("bar" = "baz")\n',
    );
  });

  it("nests lists and named lists, empty ones included", () => {
    expect(translateValue("r", { foo: { bar: '"baz"' } })).toBe(
      String.raw`list("foo" = list("bar" = "\"baz\""))`,
    );
    expect(translateValue("r", [])).toBe("list()");
    expect(translateValue("r", {})).toBe("list()");
  });

  it("drops leading underscores from names, as papermill does", () => {
    expect(translateParameters("r", { __private: 1n })).toBe("# Parameters\nprivate = 1\n");
    expect(() => translateParameters("r", { __: 1n })).toThrow(/only underscores/);
  });

  it("writes floats as Python's repr, and NaN, Inf, -Inf", () => {
    expect(translateValue("r", 1e-5)).toBe("1e-05");
    expect(translateValue("r", 3)).toBe("3.0");
    expect(translateValue("r", NaN)).toBe("NaN");
    expect(translateValue("r", Infinity)).toBe("Inf");
    expect(translateValue("r", -Infinity)).toBe("-Inf");
  });

  it("writes Latin-1 characters as \\u00NN, which R reads as UTF-8", () => {
    expect(translateValue("r", "é€😀\\xe9")).toBe(String.raw`"\u00e9\u20ac\U0001f600\\xe9"`);
    expect(translateValue("r", "\\é")).toBe(String.raw`"\\\u00e9"`);
    expect(translateValue("r", "\x7f")).toBe(String.raw`"\x7f"`);
  });

  it("refuses R reserved words", () => {
    expect(() => translateParameters("r", { TRUE: 1n })).toThrow(/reserved word in R/);
  });
});

describe("translateParameters('julia')", () => {
  it("writes papermill's Julia literals", () => {
    expect(
      translateParameters("julia", {
        foo: "bar",
        t: true,
        n: null,
        i: 5n,
        x: 1.1,
        l: ["a"],
        d: { bar: "baz" },
      }),
    ).toBe(
      '# Parameters\nfoo = "bar"\nt = true\nn = nothing\ni = 5\nx = 1.1\nl = ["a"]\nd = Dict("bar" => "baz")\n',
    );
  });

  it("nests dicts and handles empty containers", () => {
    expect(translateValue("julia", [{ foo: ["bar"] }])).toBe('[Dict("foo" => ["bar"])]');
    expect(translateValue("julia", {})).toBe("Dict()");
    expect(translateValue("julia", [])).toBe("[]");
  });

  it("escapes $ so it is not interpolated, and writes NaN/Inf", () => {
    expect(translateValue("julia", "costs $5 $(x)")).toBe(String.raw`"costs \$5 \$(x)"`);
    expect(translateValue("julia", NaN)).toBe("NaN");
    expect(translateValue("julia", -Infinity)).toBe("-Inf");
    expect(translateValue("julia", "é")).toBe(String.raw`"\u00e9"`);
  });

  it("refuses Julia keywords", () => {
    expect(() => translateParameters("julia", { end: 1n })).toThrow(/reserved word in Julia/);
  });
});

describe("translateParameters('javascript')", () => {
  it("declares each key with let and a JS literal", () => {
    expect(translateParameters("javascript", { foo: "bar", n: 5n, x: 1.5, ok: false, none: null })).toBe(
      '// Parameters\nlet foo = "bar";\nlet n = 5;\nlet x = 1.5;\nlet ok = false;\nlet none = null;\n',
    );
  });

  it("uses the keyword the notebook declared a name with", () => {
    const keywords = new Map([
      ["b", "var"],
      ["c", "const"],
      ["d", "let"],
    ] as const);
    expect(
      translateParameters("typescript", { a: 1n, b: 2n, c: 3n, d: 4n }, "Parameters", { keywords }),
    ).toBe("// Parameters\nlet a = 1;\nvar b = 2;\nconst c = 3;\nlet d = 4;\n");
  });

  it("writes non-finite floats and negative zero", () => {
    expect(translateValue("javascript", NaN)).toBe("NaN");
    expect(translateValue("javascript", Infinity)).toBe("Infinity");
    expect(translateValue("javascript", -Infinity)).toBe("-Infinity");
    expect(translateValue("javascript", -0)).toBe("-0");
    expect(translateValue("javascript", 3)).toBe("3");
    expect(translateValue("javascript", 1e21)).toBe("1e+21");
  });

  it("writes ints beyond 2^53 as BigInt literals so no digit is lost", () => {
    expect(translateValue("javascript", 9007199254740991n)).toBe("9007199254740991");
    expect(translateValue("javascript", -9007199254740991n)).toBe("-9007199254740991");
    expect(translateValue("javascript", 9007199254740992n)).toBe("9007199254740992n");
    expect(translateValue("javascript", -12345678901234567890n)).toBe("-12345678901234567890n");
  });

  it("writes strings JSON-escaped, with U+2028/U+2029 and lone surrogates escaped", () => {
    expect(translateValue("javascript", 'a"b\\c\nd\u2028\u2029é😀\ud800')).toBe(
      String.raw`"a\"b\\c\nd\u2028\u2029é😀\ud800"`,
    );
  });

  it("writes arrays and objects with quoted keys, __proto__ as a computed key", () => {
    expect(translateValue("javascript", { a: [1n, 2.5], "b-c": {} })).toBe('{"a": [1, 2.5], "b-c": {}}');
    const proto: Record<string, ParamValue> = {};
    Object.defineProperty(proto, "__proto__", { value: 1n, enumerable: true });
    expect(translateValue("javascript", proto)).toBe('{["__proto__"]: 1}');
  });

  it("refuses JS reserved words and non-identifiers", () => {
    expect(() => translateParameters("javascript", { default: 1n })).toThrow(/reserved word in JavaScript/);
    expect(() => translateParameters("typescript", { "a b": 1n })).toThrow(/not a JavaScript identifier/);
  });
});

describe("translateParameters limits", () => {
  it("refuses before writing anything what the language's compiler cannot read", () => {
    const deep: ParamValue = JSON.parse("[".repeat(101) + "]".repeat(101)) as ParamValue;
    expect(() => translateParameters("python", { deep })).toThrow(
      /^parameter "deep" is nested more than 100 levels deep/,
    );
    const big = BigInt("9".repeat(4301));
    expect(() => translateParameters("python", { n: big })).toThrow(
      /^parameter "n" is an int of more than 4300 digits/,
    );
    expect(translateParameters("typescript", { n: big })).toContain(`let n = ${big}n;`);
    expect(translateParameters("julia", { n: big })).toContain(`n = ${big}\n`);
  });
});
