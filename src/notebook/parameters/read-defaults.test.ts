import { describe, expect, it } from "vitest";
import type { Cell, Notebook } from "../types.js";
import { readParameterDefaults, readSourceDefaults } from "./read-defaults.js";

const py = (source: string) => readSourceDefaults(source, "python");
const js = (source: string) => readSourceDefaults(source, "typescript");

describe("readSourceDefaults('python')", () => {
  it("reads literal defaults with their types", () => {
    expect(py('days = 3\nrate = 0.5\nname = "a"\nok = True\nnothing = None\n')).toEqual([
      { name: "days", type: "int", default: 3n },
      { name: "rate", type: "float", default: 0.5 },
      { name: "name", type: "str", default: "a" },
      { name: "ok", type: "bool", default: true },
      { name: "nothing", type: "none", default: null },
    ]);
  });

  it("reads annotations and trailing comments as help", () => {
    expect(py("days: int = 1  # how far back\nlimit: Optional[int] = None\nx: float = 2")).toEqual([
      { name: "days", type: "int", default: 1n, annotation: "int", help: "how far back" },
      { name: "limit", type: "int", default: null, annotation: "Optional[int]" },
      { name: "x", type: "float", default: 2n, annotation: "float" },
    ]);
  });

  it("reads papermill's type comments", () => {
    expect(py("when = None  # type: str the date")).toEqual([
      { name: "when", type: "str", default: null, annotation: "str", help: "the date" },
    ]);
  });

  it("reads Python strings in all their forms", () => {
    const got = py(
      [
        "a = 'single'",
        'b = "dou\\"ble\\n\\t\\x41\\u00e9\\U0001F600\\101"',
        "c = r'C:\\temp\\new'",
        'd = """triple\nline"""',
        "e = 'con' 'cat'",
        "f = ('paren'\n     'cat')",
        "g = u'unicode'",
      ].join("\n"),
    ).map((d) => d.default);
    expect(got).toEqual([
      "single",
      'dou"ble\n\tAé😀A',
      "C:\\temp\\new",
      "triple\nline",
      "concat",
      "parencat",
      "unicode",
    ]);
  });

  it("reads numbers with underscores, exponents, signs and bases", () => {
    const got = py(
      "a = 1_000\nb = -2\nc = 1e3\nd = .5\ne = 5.\nf = 0x1F\ng = 0o17\nh = 0b101\ni = +1.5e-3\nj = 0",
    ).map((d) => d.default);
    expect(got).toEqual([1000n, -2n, 1000, 0.5, 5, 31n, 15n, 5n, 0.0015, 0n]);
  });

  it("reads nested lists, tuples and dicts, over several lines", () => {
    const got = py(
      'xs = [1, 2.5, "a",\n      [True, None]]  # the list\nd = {\n  "a": 1,  # inner\n  "b": {"c": []},\n}\nt = (1, 2)\nu = 1, 2\nv = (1,)',
    );
    expect(got).toEqual([
      { name: "xs", type: "list", default: [1n, 2.5, "a", [true, null]], help: "the list" },
      { name: "d", type: "dict", default: { a: 1n, b: { c: [] } } },
      { name: "t", type: "list", default: [1n, 2n] },
      { name: "u", type: "list", default: [1n, 2n] },
      { name: "v", type: "list", default: [1n] },
    ]);
  });

  it("reads float('nan') and float('inf') as papermill writes them", () => {
    expect(py("a = float('nan')\nb = float(\"-inf\")").map((d) => d.default)).toEqual([NaN, -Infinity]);
  });

  it("types what it cannot evaluate from its syntax, without a default", () => {
    expect(
      py(
        'a = [x for x in y]\nb = {"k": v}\nc = f"hi {x}"\nd = compute()\ne = {1, 2}\nf = b"raw"\ng: list[str] = make()',
      ),
    ).toEqual([
      { name: "a", type: "list" },
      { name: "b", type: "dict" },
      { name: "c", type: "str" },
      { name: "d", type: "unknown" },
      { name: "e", type: "unknown" },
      { name: "f", type: "unknown" },
      { name: "g", type: "list", annotation: "list[str]" },
    ]);
  });

  it("maps annotations to types", () => {
    const types = py(
      'a: "int" = None\nb: int | None = None\nc: Union[None, float] = None\nd: Dict[str, int] = None\ne: typing.List[int] = None\nf: Union[int, str] = None\ng: bool\n',
    ).map((d) => [d.name, d.type]);
    expect(types).toEqual([
      ["a", "int"],
      ["b", "int"],
      ["c", "float"],
      ["d", "dict"],
      ["e", "list"],
      ["f", "none"],
      ["g", "bool"],
    ]);
  });

  it("skips comments, blocks, magics and statements that are not simple assignments", () => {
    const source = [
      "# a comment with x = 1",
      "import os",
      "%matplotlib inline",
      "!pip install x",
      "if True:",
      "    inner = 1",
      "x += 1",
      "a = b = 1",
      "p, q = 1, 2",
      "obj.attr = 1",
      "d['k'] = 1",
      "print(x == 1)",
      "s = 'it''s'; t = 2",
      "",
      "last = 'ok'",
    ].join("\n");
    expect(py(source).map((d) => d.name)).toEqual(["s", "t", "last"]);
  });

  it("keeps going after unterminated strings", () => {
    expect(py("a = 'oops\nb = 2").map((d) => [d.name, d.default])).toEqual([
      ["a", undefined],
      ["b", 2n],
    ]);
  });

  it("joins backslash continuations and ignores CRLF", () => {
    expect(py("a = \\\r\n  5\r\nb = 6\r\n").map((d) => d.default)).toEqual([5n, 6n]);
  });
});

describe("readSourceDefaults('typescript')", () => {
  it("reads let/const/var declarations with JS literals", () => {
    expect(
      js('let days = 3;\nconst rate = 0.5\nvar name = "a"; // the name\nlet ok = true, none = null;'),
    ).toEqual([
      { name: "days", type: "int", default: 3n, keyword: "let" },
      { name: "rate", type: "float", default: 0.5, keyword: "const" },
      { name: "name", type: "str", default: "a", keyword: "var", help: "the name" },
      { name: "ok", type: "bool", default: true, keyword: "let" },
      { name: "none", type: "none", default: null, keyword: "let" },
    ]);
  });

  it("reads numbers: integral literals are ints, others floats", () => {
    const got = js(
      "let a = 1_000; let b = -2; let c = 1e3; let d = 2.0; let e = 0x1f; let f = 10n; let g = NaN; let h = -Infinity;",
    );
    expect(got.map((d) => d.default)).toEqual([1000n, -2n, 1000, 2, 31n, 10n, NaN, -Infinity]);
    expect(got.map((d) => d.type)).toEqual(["int", "int", "float", "float", "int", "int", "float", "float"]);
  });

  it("reads TypeScript annotations", () => {
    const got = js(
      "let a: number = 1;\nlet b: string | null = null;\nlet c: Record<string, number> = {}, d: string[] = [];\nlet e: Array<number>;\nlet f: boolean = x();\nlet g: 'a' | 'b' = 'a';",
    );
    expect(got.map((d) => [d.name, d.type, d.annotation])).toEqual([
      ["a", "float", "number"],
      ["b", "str", "string | null"],
      ["c", "dict", "Record<string, number>"],
      ["d", "list", "string[]"],
      ["e", "list", "Array<number>"],
      ["f", "bool", "boolean"],
      ["g", "str", "'a' | 'b'"],
    ]);
  });

  it("reads strings, templates, arrays and objects over several lines", () => {
    const got = js(
      "const s = 'it\\'s\\u{1F600}\\x41';\nconst t = `plain`;\nconst u = `a${x}b`;\nconst cfg = {\n  a: 1,\n  'b': [1.5, \"x\"],\n  \"c\": { d: null },\n} as const;\nconst list = [\n  1,\n  2,\n];",
    );
    expect(got.map((d) => [d.name, d.type, d.default])).toEqual([
      ["s", "str", "it's😀A"],
      ["t", "str", "plain"],
      ["u", "str", undefined],
      ["cfg", "dict", { a: 1n, b: [1.5, "x"], c: { d: null } }],
      ["list", "list", [1n, 2n]],
    ]);
  });

  it("skips other statements, destructuring and nested declarations", () => {
    const got = js(
      "import x from 'y';\nconsole.log('let a = 1');\nconst { p } = obj;\nfunction f() {\n  let inner = 1;\n}\nif (x) { let y = 2; }\nconst re = /let z = 1;/g; let w = 3;\n/* let c = 3; */",
    );
    expect(got.map((d) => d.name)).toEqual(["re", "w"]);
  });
});

describe("readSourceDefaults('r' | 'julia')", () => {
  it("reads R scalars: plain numbers are doubles, 3L an integer", () => {
    expect(
      readSourceDefaults(
        'days <- 3\nn = 3L\nname = "x" # help\nok <- TRUE\nnil = NULL\nv = c(1, 2)\n  inner = 1',
        "r",
      ),
    ).toEqual([
      { name: "days", type: "float", default: 3 },
      { name: "n", type: "int", default: 3n },
      { name: "name", type: "str", default: "x", help: "help" },
      { name: "ok", type: "bool", default: true },
      { name: "nil", type: "none", default: null },
      { name: "v", type: "list" },
    ]);
  });

  it("reads Julia scalars and annotations", () => {
    expect(
      readSourceDefaults(
        'days = 3\nrate = 1e-3\nname = "x\\$y"\ninterp = "$x"\nok = false\nn::Int = nothing\nd = Dict("a" => 1)\nxs = [1, 2]',
        "julia",
      ),
    ).toEqual([
      { name: "days", type: "int", default: 3n },
      { name: "rate", type: "float", default: 0.001 },
      { name: "name", type: "str", default: "x$y" },
      { name: "interp", type: "str" },
      { name: "ok", type: "bool", default: false },
      { name: "n", type: "int", default: null },
      { name: "d", type: "dict" },
      { name: "xs", type: "list" },
    ]);
  });
});

describe("readParameterDefaults", () => {
  const cell = (cell_type: "code" | "markdown", source: string | string[], tags: string[]): Cell =>
    cell_type === "code"
      ? { cell_type, source, metadata: { tags }, outputs: [], execution_count: null }
      : { cell_type, source, metadata: { tags } };

  it("reads every code cell tagged parameters in order, the last definition winning", () => {
    const nb: Notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        cell("code", ["a = 1\n", "b = 'x'\n"], ["parameters"]),
        cell("markdown", "c = 3", ["parameters"]),
        cell("code", "d = 4", []),
        cell("code", "a = 2.5", ["parameters", "other"]),
      ],
    };
    expect(readParameterDefaults(nb, "python")).toEqual([
      { name: "a", type: "float", default: 2.5 },
      { name: "b", type: "str", default: "x" },
    ]);
  });
});
