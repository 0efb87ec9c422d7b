/**
 * Parameters end to end on real kernels: where the injected cell goes, what every translated value
 * becomes inside Debian's ipykernel and Deno's TypeScript kernel, how Deno takes a name declared
 * again, and request strings coerced to the types of the parameters cell.
 */
import { describe, expect, it } from "vitest";
import { findKernelSpecs } from "../../src/kernel/index.js";
import { coerceParameter, readParameterDefaults } from "../../src/notebook/parameters/index.js";
import type { CodeCell, Notebook, ParamValue, Parameters } from "../../src/notebook/types.js";
import { executeNotebook, type ExecutionResult } from "../../src/runs/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();

type Kernel = "python3" | "deno";
const run = (nb: Notebook, parameters: Parameters) =>
  executeNotebook(nb, { specs, parameters, runTimeoutMs: 45_000 });
const runCells = (cells: CellSpec[], parameters: Parameters, kernel: Kernel = "python3") =>
  run(makeNotebook(cells, kernel), parameters);

/** The text a code cell printed on stdout. */
function stdout(result: ExecutionResult, index: number): string {
  const cell = result.notebook.cells[index] as CodeCell;
  return cell.outputs
    .filter((o) => o.output_type === "stream" && o.name === "stdout")
    .map((o) => (Array.isArray(o.text) ? o.text.join("") : (o.text as string)))
    .join("");
}

function sourceOf(result: ExecutionResult, index: number): string {
  const source = result.notebook.cells[index]!.source;
  return Array.isArray(source) ? source.join("") : source;
}

function tagsOf(result: ExecutionResult, index: number): unknown {
  return result.notebook.cells[index]!.metadata.tags;
}

const injectedIndexes = (result: ExecutionResult) =>
  result.notebook.cells.flatMap((c, i) =>
    (c.metadata.tags as string[] | undefined)?.includes("injected-parameters") ? [i] : [],
  );

function expectOk(result: ExecutionResult): void {
  expect(result.error, `the run failed: ${JSON.stringify(result.error)}`).toBeUndefined();
  expect(result.status).toBe("ok");
}

describe("where the parameters cell goes, on Debian's ipykernel", () => {
  it("goes first when no cell is tagged parameters, and later cells see the values", async () => {
    const result = await runCells(["print(repr(city), days)"], { city: "Paris", days: 3n });
    expectOk(result);
    expect(result.notebook.cells).toHaveLength(2);
    expect(sourceOf(result, 0)).toBe('# Parameters\ncity = "Paris"\ndays = 3\n');
    expect(tagsOf(result, 0)).toEqual(["injected-parameters"]);
    expect((result.notebook.cells[0] as CodeCell).execution_count).toBe(1);
    expect(stdout(result, 1)).toBe("'Paris' 3\n");
  });

  it("goes right after the first code cell tagged parameters and overrides its defaults", async () => {
    const result = await runCells(
      [
        "import math",
        { source: "city = 'Lyon'\ndays = 1\ndef total():\n    return days * 2", tags: ["parameters"] },
        { source: "extra = 'second parameters cell'", tags: ["parameters"] },
        "print(city, days, total(), extra)",
        "print(math.sqrt(days))",
      ],
      { city: "Paris", days: 4n },
    );
    expectOk(result);
    expect(injectedIndexes(result)).toEqual([2]);
    expect(sourceOf(result, 2)).toBe('# Parameters\ncity = "Paris"\ndays = 4\n');
    expect(sourceOf(result, 3)).toBe("extra = 'second parameters cell'");
    expect(stdout(result, 4)).toBe("Paris 4 8 second parameters cell\n");
    expect(stdout(result, 5)).toBe("2.0\n");
  });

  it("goes right after a markdown cell tagged parameters", async () => {
    const result = await runCells(
      [
        "city = 'Lyon'",
        { type: "markdown", source: "## Parameters\n`city`: where to look", tags: ["parameters"] },
        "print(city)",
      ],
      { city: "Paris" },
    );
    expectOk(result);
    expect(result.notebook.cells.map((c) => c.cell_type)).toEqual(["code", "markdown", "code", "code"]);
    expect(injectedIndexes(result)).toEqual([2]);
    expect(stdout(result, 3)).toBe("Paris\n");
  });

  it("replaces an injected-parameters cell left by an earlier run, in place", async () => {
    const nb = makeNotebook([
      { source: "city = 'Lyon'", tags: ["parameters"] },
      { source: '# Parameters\ncity = "Old"\n', tags: ["injected-parameters"] },
      "print(city)",
    ]);
    const stale = nb.cells[1] as CodeCell;
    stale.outputs = [{ output_type: "stream", name: "stdout", text: "stale\n" }];
    stale.execution_count = 7;
    const result = await run(nb, { city: "Paris" });
    expectOk(result);
    expect(result.notebook.cells).toHaveLength(3);
    expect(injectedIndexes(result)).toEqual([1]);
    expect(sourceOf(result, 1)).toBe('# Parameters\ncity = "Paris"\n');
    expect((result.notebook.cells[1] as CodeCell).outputs).toEqual([]);
    expect(stdout(result, 2)).toBe("Paris\n");
    expect(result.notebook.metadata.papermill).toMatchObject({ parameters: { city: "Paris" } });
  });

  it("leaves the notebook alone when there are no parameters", async () => {
    const result = await runCells([{ source: "city = 'Lyon'", tags: ["parameters"] }, "print(city)"], {});
    expectOk(result);
    expect(injectedIndexes(result)).toEqual([]);
    expect(stdout(result, 1)).toBe("Lyon\n");
  });
});

describe("where the parameters cell goes, on Deno's kernel", () => {
  it("goes first when no cell is tagged parameters", async () => {
    const result = await runCells(
      ["console.log(JSON.stringify([city, days]))"],
      { city: "Paris", days: 3n },
      "deno",
    );
    expectOk(result);
    expect(sourceOf(result, 0)).toBe('// Parameters\nlet city = "Paris";\nlet days = 3;\n');
    expect(stdout(result, 1)).toBe('["Paris",3]\n');
  });

  it("goes right after the first code cell tagged parameters and overrides its defaults", async () => {
    const result = await runCells(
      [
        { source: 'let city = "Lyon";\nlet days = 1;\nconst total = () => days * 2;', tags: ["parameters"] },
        "console.log(city, days, total())",
      ],
      { city: "Paris", days: 4n },
      "deno",
    );
    expectOk(result);
    expect(injectedIndexes(result)).toEqual([1]);
    expect(stdout(result, 2)).toBe("Paris 4 8\n");
  });

  it("goes right after a markdown cell tagged parameters", async () => {
    const result = await runCells(
      [
        'let city = "Lyon";',
        { type: "markdown", source: "## Parameters", tags: ["parameters"] },
        "console.log(city)",
      ],
      { city: "Paris" },
      "deno",
    );
    expectOk(result);
    expect(injectedIndexes(result)).toEqual([2]);
    expect(stdout(result, 3)).toBe("Paris\n");
  });

  it("replaces an injected-parameters cell left by an earlier run", async () => {
    const result = await runCells(
      [
        { source: 'let city = "Lyon";', tags: ["parameters"] },
        { source: '// Parameters\nlet city = "Old";\n', tags: ["injected-parameters"] },
        "console.log(city)",
      ],
      { city: "Paris" },
      "deno",
    );
    expectOk(result);
    expect(result.notebook.cells).toHaveLength(3);
    expect(sourceOf(result, 1)).toBe('// Parameters\nlet city = "Paris";\n');
    expect(stdout(result, 2)).toBe("Paris\n");
  });
});

// ---------------------------------------------------------------------------------------------
// Every translated type, read back from the kernel with its type.

/** Python: each value as {t: type name, ...} with ints as text and floats as repr. */
const PY_TYPED = `import json, math
def _typed(v):
    if v is None: return {"t": "NoneType"}
    if isinstance(v, bool): return {"t": "bool", "v": v}
    if isinstance(v, int): return {"t": "int", "v": str(v)}
    if isinstance(v, float): return {"t": "float", "r": repr(v), "neg": math.copysign(1.0, v) < 0}
    if isinstance(v, str): return {"t": "str", "v": v}
    if isinstance(v, list): return {"t": "list", "v": [_typed(x) for x in v]}
    if isinstance(v, dict): return {"t": "dict", "v": [[k, _typed(x)] for k, x in v.items()]}
    return {"t": type(v).__name__}
`;

type Typed = { t: string; v?: unknown; r?: string; neg?: boolean; proto?: boolean };
const py = {
  str: (v: string): Typed => ({ t: "str", v }),
  int: (v: bigint): Typed => ({ t: "int", v: v.toString() }),
  float: (r: string): Typed => ({ t: "float", r, neg: r.startsWith("-") }),
  bool: (v: boolean): Typed => ({ t: "bool", v }),
  none: { t: "NoneType" } as Typed,
  list: (...v: Typed[]): Typed => ({ t: "list", v }),
  dict: (...v: Array<[string, Typed]>): Typed => ({ t: "dict", v }),
};

const STRINGS: Record<string, string> = {
  s_quotes: `He said "hi" & 'bye' """triple""" '''too'''`,
  s_backslash: String.raw`C:\new\table\x41 \N{BULLET} \u00e9 \\ \"` + "\\",
  s_lines: "line 1\nline 2\r\nline 3\rend\ttab\vvt\fff",
  s_control: "\x00\x01\x07\x08\x1b[0m\x1c\x1f\x7f\x80\x85\x9f\xa0\u2028\u2029",
  s_unicode: "é € 😀 東京 Zoë \u200b\u200f\ufeff",
  s_surrogate: "lone \ud800 high",
  s_code: '"; import os; os._exit(1) #\n{x} %s ${HOME} `tick` </script>',
  s_empty: "",
};

describe("every parameter type round-trips through Debian's ipykernel", () => {
  const cases: Array<[name: string, value: ParamValue, expected: Typed]> = [
    ...Object.entries(STRINGS).map(([name, s]): [string, ParamValue, Typed] => [name, s, py.str(s)]),
    ["i_zero", 0n, py.int(0n)],
    ["i_negative", -42n, py.int(-42n)],
    ["i_beyond_2_53", 2n ** 53n + 1n, py.int(2n ** 53n + 1n)],
    ["i_huge", -(10n ** 30n) - 7n, py.int(-(10n ** 30n) - 7n)],
    ["f_tenth", 0.1, py.float("0.1")],
    ["f_integral", 3, py.float("3.0")],
    ["f_1e16", 1e16, py.float("1e+16")],
    ["f_1e_5", 1e-5, py.float("1e-05")],
    ["f_small_positional", 0.0001, py.float("0.0001")],
    ["f_negative_zero", -0, py.float("-0.0")],
    ["f_denormal", 5e-324, py.float("5e-324")],
    ["f_max", Number.MAX_VALUE, py.float("1.7976931348623157e+308")],
    ["f_nan", NaN, { t: "float", r: "nan", neg: false }],
    ["f_inf", Infinity, py.float("inf")],
    ["f_minus_inf", -Infinity, py.float("-inf")],
    ["b_true", true, py.bool(true)],
    ["b_false", false, py.bool(false)],
    ["nothing", null, py.none],
    [
      "nested_list",
      [1n, 2.5, "x", [true, null, []], { k: [3n, -0] }],
      py.list(
        py.int(1n),
        py.float("2.5"),
        py.str("x"),
        py.list(py.bool(true), py.none, py.list()),
        py.dict(["k", py.list(py.int(3n), py.float("-0.0"))]),
      ),
    ],
    [
      "nested_dict",
      { a: 1n, "b c": { d: [1.5, "é"] }, "": null, 'quote"key\n': false, "😀": NaN },
      py.dict(
        ["a", py.int(1n)],
        ["b c", py.dict(["d", py.list(py.float("1.5"), py.str("é"))])],
        ["", py.none],
        ['quote"key\n', py.bool(false)],
        ["😀", { t: "float", r: "nan", neg: false }],
      ),
    ],
  ];

  it("injects str, int, float, bool, None, list and dict and reads each back with its type", async () => {
    const params = Object.fromEntries(cases.map(([name, value]) => [name, value]));
    const names = cases.map(([name]) => name);
    const result = await runCells(
      [PY_TYPED, `print(json.dumps({n: _typed(globals()[n]) for n in ${JSON.stringify(names)}}))`],
      params,
    );
    expectOk(result);
    const seen = JSON.parse(stdout(result, 2)) as Record<string, Typed>;
    for (const [name, , expected] of cases) expect(seen[name], name).toEqual(expected);
  });

  it("keeps big ints exact in arithmetic and floats bit-exact", async () => {
    const result = await runCells(
      [
        "import struct\nprint(big + 1, big % 1000)\nprint(struct.pack('>d', f).hex(), struct.pack('>d', z).hex())",
      ],
      { big: 123456789012345678901234567890n, f: 0.1 + 0.2, z: -0 },
    );
    expectOk(result);
    expect(stdout(result, 1)).toBe("123456789012345678901234567891 890\n3fd3333333333334 8000000000000000\n");
  });
});

/** TypeScript: each value as {t: typeof, ...}, -0 and bigints kept, object prototypes checked. */
const TS_TYPED = `function typed(v: unknown): unknown {
  if (v === null) return { t: "null" };
  if (Array.isArray(v)) return { t: "array", v: v.map(typed) };
  switch (typeof v) {
    case "bigint": return { t: "bigint", v: v.toString() };
    case "number": return { t: "number", r: Object.is(v, -0) ? "-0" : Number.isNaN(v) ? "NaN" : String(v) };
    case "string": return { t: "string", v };
    case "boolean": return { t: "boolean", v };
    case "object": return {
      t: "object",
      proto: Object.getPrototypeOf(v) === Object.prototype,
      v: Object.entries(v as object).map(([k, x]) => [k, typed(x)]),
    };
  }
  return { t: typeof v };
}`;

const ts = {
  str: (v: string): Typed => ({ t: "string", v }),
  num: (r: string): Typed => ({ t: "number", r }),
  big: (v: bigint): Typed => ({ t: "bigint", v: v.toString() }),
  bool: (v: boolean): Typed => ({ t: "boolean", v }),
  nul: { t: "null" } as Typed,
  arr: (...v: Typed[]): Typed => ({ t: "array", v }),
  obj: (...v: Array<[string, Typed]>): Typed => ({ t: "object", proto: true, v }),
};

describe("every parameter type round-trips through Deno's TypeScript kernel", () => {
  const protoKey: { [key: string]: ParamValue } = { a: 1n };
  Object.defineProperty(protoKey, "__proto__", {
    value: { polluted: true },
    enumerable: true,
    writable: true,
    configurable: true,
  });

  const cases: Array<[name: string, value: ParamValue, expected: Typed]> = [
    ...Object.entries(STRINGS).map(([name, s]): [string, ParamValue, Typed] => [name, s, ts.str(s)]),
    ["i_zero", 0n, ts.num("0")],
    ["i_negative", -42n, ts.num("-42")],
    ["i_max_safe", 2n ** 53n - 1n, ts.num("9007199254740991")],
    ["i_beyond_2_53", 2n ** 53n + 1n, ts.big(2n ** 53n + 1n)],
    ["i_huge", -(10n ** 30n) - 7n, ts.big(-(10n ** 30n) - 7n)],
    ["f_tenth", 0.1, ts.num("0.1")],
    ["f_integral", 3, ts.num("3")],
    ["f_1e16", 1e16, ts.num("10000000000000000")],
    ["f_1e21", 1e21, ts.num("1e+21")],
    ["f_1e_5", 1e-5, ts.num("0.00001")],
    ["f_negative_zero", -0, ts.num("-0")],
    ["f_denormal", 5e-324, ts.num("5e-324")],
    ["f_nan", NaN, ts.num("NaN")],
    ["f_inf", Infinity, ts.num("Infinity")],
    ["f_minus_inf", -Infinity, ts.num("-Infinity")],
    ["b_true", true, ts.bool(true)],
    ["b_false", false, ts.bool(false)],
    ["nothing", null, ts.nul],
    [
      "nested_list",
      [1n, 2.5, "x", [true, null, []], { k: [3n, -0] }],
      ts.arr(
        ts.num("1"),
        ts.num("2.5"),
        ts.str("x"),
        ts.arr(ts.bool(true), ts.nul, ts.arr()),
        ts.obj(["k", ts.arr(ts.num("3"), ts.num("-0"))]),
      ),
    ],
    [
      "nested_dict",
      { a: 1n, "b c": { d: [1.5, "é"] }, "": null, 'quote"key\n': false, "😀": NaN },
      ts.obj(
        ["a", ts.num("1")],
        ["b c", ts.obj(["d", ts.arr(ts.num("1.5"), ts.str("é"))])],
        ["", ts.nul],
        ['quote"key\n', ts.bool(false)],
        ["😀", ts.num("NaN")],
      ),
    ],
    ["proto_key", protoKey, ts.obj(["a", ts.num("1")], ["__proto__", ts.obj(["polluted", ts.bool(true)])])],
  ];

  it("injects strings, numbers, bigints, booleans, null, arrays and objects and reads each back with its type", async () => {
    const params = Object.fromEntries(cases.map(([name, value]) => [name, value]));
    const dump = `console.log(JSON.stringify({ ${cases.map(([name]) => `${name}: typed(${name})`).join(", ")} }));`;
    const result = await runCells([TS_TYPED, dump], params, "deno");
    expectOk(result);
    const seen = JSON.parse(stdout(result, 2)) as Record<string, Typed>;
    for (const [name, , expected] of cases) expect(seen[name], name).toEqual(expected);
  });

  it("keeps ints beyond 2^53 exact as BigInt, and floats bit-exact", async () => {
    const result = await runCells(
      [
        "console.log(String(big + 1n), String(big % 1000n));\n" +
          "const bits = (x: number) => { const d = new DataView(new ArrayBuffer(8)); d.setFloat64(0, x); return d.getBigUint64(0).toString(16); };\n" +
          "console.log(bits(f), bits(z));",
      ],
      { big: 123456789012345678901234567890n, f: 0.1 + 0.2, z: -0 },
      "deno",
    );
    expectOk(result);
    expect(stdout(result, 1)).toBe("123456789012345678901234567891 890\n3fd3333333333334 8000000000000000\n");
  });
});

describe("declaring an injected name again on Deno's kernel", () => {
  it.each(["const", "let", "var"])(
    "takes the values after a parameters cell that declares them with %s, and later cells see them",
    async (keyword) => {
      const result = await runCells(
        [
          {
            source: `${keyword} city: string = "Lyon";\n${keyword} days = 1, ratio: number = 0.5;\nfunction total(): number { return days * 2; }`,
            tags: ["parameters"],
          },
          "console.log(JSON.stringify({ city, days, ratio, total: total(), fresh }));",
          "console.log(typeof days);",
        ],
        { city: "Paris", days: 5n, ratio: 2.5, fresh: true },
        "deno",
      );
      expectOk(result);
      expect(sourceOf(result, 1)).toBe(
        `// Parameters\n${keyword} city = "Paris";\n${keyword} days = 5;\n${keyword} ratio = 2.5;\nlet fresh = true;\n`,
      );
      expect(stdout(result, 2)).toBe('{"city":"Paris","days":5,"ratio":2.5,"total":10,"fresh":true}\n');
      expect(stdout(result, 3)).toBe("number\n");
    },
  );

  it("lets a later cell declare a parameter again when no cell is tagged parameters", async () => {
    const result = await runCells(
      [
        "console.log(days, city);",
        "const days = 1;\nconsole.log(days);",
        'var city = "Lyon";\nconsole.log(city);',
      ],
      { days: 5n, city: "Paris" },
      "deno",
    );
    expectOk(result);
    expect(sourceOf(result, 0)).toBe('// Parameters\nconst days = 5;\nvar city = "Paris";\n');
    expect([stdout(result, 1), stdout(result, 2), stdout(result, 3)]).toEqual(["5 Paris\n", "1\n", "Lyon\n"]);
  });

  it("keeps a var-declared parameter reassignable in later cells", async () => {
    const result = await runCells(
      [{ source: "var count = 0;", tags: ["parameters"] }, "count += 1;\nconsole.log(count);"],
      { count: 41n },
      "deno",
    );
    expectOk(result);
    expect(stdout(result, 2)).toBe("42\n");
  });
});

describe("request strings coerced to the parameters cell's types", () => {
  const PARAMS_CELL = [
    "days = 3",
    "rate: float = 1",
    "ratio = 0.5",
    "flag = False",
    "tags = ['a']",
    "opts = {'k': 1}",
    'name = "x"',
    "limit: int = None",
    "maybe: int = None",
    "anything = None",
  ].join("\n");
  const NAMES = ["days", "rate", "ratio", "flag", "tags", "opts", "name", "limit", "maybe", "anything"];

  it("reads the defaults, coerces each string, and the Python kernel sees the right types", async () => {
    const nb = makeNotebook([
      { source: PARAMS_CELL, tags: ["parameters"] },
      PY_TYPED,
      `print(json.dumps({n: _typed(globals()[n]) for n in ${JSON.stringify(NAMES)}}))`,
    ]);
    const defaults = readParameterDefaults(nb, "python");
    expect(defaults.map((d) => [d.name, d.type])).toEqual([
      ["days", "int"],
      ["rate", "float"],
      ["ratio", "float"],
      ["flag", "bool"],
      ["tags", "list"],
      ["opts", "dict"],
      ["name", "str"],
      ["limit", "int"],
      ["maybe", "int"],
      ["anything", "none"],
    ]);
    const request: Record<string, string> = {
      days: "7",
      rate: "3",
      ratio: "3.5",
      flag: "true",
      tags: '[1, 2.5, "x", null]',
      opts: '{"a": [1, {"b": false}]}',
      name: "42",
      limit: "12345678901234567890",
      maybe: "",
      anything: "hello",
    };
    const byName = new Map(defaults.map((d) => [d.name, d]));
    const params = Object.fromEntries(
      Object.entries(request).map(([name, raw]) => [name, coerceParameter(name, raw, byName.get(name)!)]),
    );
    const result = await run(nb, params);
    expectOk(result);
    const seen = JSON.parse(stdout(result, 3)) as Record<string, Typed>;
    expect(seen).toEqual({
      days: py.int(7n),
      rate: py.float("3.0"),
      ratio: py.float("3.5"),
      flag: py.bool(true),
      tags: py.list(py.int(1n), py.float("2.5"), py.str("x"), py.none),
      opts: py.dict(["a", py.list(py.int(1n), py.dict(["b", py.bool(false)]))]),
      name: py.str("42"),
      limit: py.int(12345678901234567890n),
      maybe: py.none,
      anything: py.str("hello"),
    });
  });

  it("refuses a string that does not fit, before any kernel starts", () => {
    const nb = makeNotebook([{ source: PARAMS_CELL, tags: ["parameters"] }]);
    const days = readParameterDefaults(nb, "python").find((d) => d.name === "days")!;
    expect(() => coerceParameter("days", "3.5", days)).toThrow(
      'parameter "days" expects int (default 3); got "3.5"',
    );
  });

  it("coerces to the types of a TypeScript parameters cell, and Deno sees them", async () => {
    const nb = makeNotebook(
      [
        {
          source:
            'let days = 3;\nconst ratio: number = 0.5;\nlet ok = false;\nlet ids: number[] = [];\nlet who = "x";',
          tags: ["parameters"],
        },
        TS_TYPED,
        "console.log(JSON.stringify([typed(days), typed(ratio), typed(ok), typed(ids), typed(who)]));",
      ],
      "deno",
    );
    const byName = new Map(readParameterDefaults(nb, "typescript").map((d) => [d.name, d]));
    const request = { days: "7", ratio: "2", ok: "yes", ids: "[1, 2]", who: "007" };
    const params = Object.fromEntries(
      Object.entries(request).map(([name, raw]) => [name, coerceParameter(name, raw, byName.get(name)!)]),
    );
    const result = await run(nb, params);
    expectOk(result);
    expect(JSON.parse(stdout(result, 3))).toEqual([
      ts.num("7"),
      ts.num("2"),
      ts.bool(true),
      ts.arr(ts.num("1"), ts.num("2")),
      ts.str("007"),
    ]);
  });
});
