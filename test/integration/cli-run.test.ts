/**
 * The built command line (`node dist/cli/main.js`, so `npm run build` first) on real kernels:
 * `nbhook kernels`, and `nbhook run` with every way of giving parameters, its outputs, exit codes
 * and messages.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parseNotebook } from "../../src/notebook/read.js";
import type { CodeCell, Notebook } from "../../src/notebook/types.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `nbhook ...args` in `cwd`, killing it after `timeoutMs`. */
function nbhook(
  args: string[],
  cwd: string,
  timeoutMs = 45_000,
  env?: NodeJS.ProcessEnv,
): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: Date.now() - t0,
      });
    });
  });
}

/** A fresh folder (inside this file's private TMPDIR) holding `nb.ipynb` made of `cells`. */
function workspace(cells: CellSpec[] | Notebook, kernel: "python3" | "deno" = "python3"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cli-"));
  const nb = Array.isArray(cells) ? makeNotebook(cells, kernel) : cells;
  writeFileSync(path.join(dir, "nb.ipynb"), JSON.stringify(nb));
  return dir;
}

const readOut = (dir: string, name = "out.ipynb") =>
  parseNotebook(readFileSync(path.join(dir, name), "utf8"));
const sourceOf = (nb: Notebook, i: number) => [nb.cells[i]!.source].flat().join("");
function stdoutOf(nb: Notebook, i: number): string {
  return (nb.cells[i] as CodeCell).outputs
    .filter((o) => o.output_type === "stream" && o.name === "stdout")
    .map((o) => [o.text as string | string[]].flat().join(""))
    .join("");
}
const injectedIndexes = (nb: Notebook) =>
  nb.cells.flatMap((c, i) =>
    (c.metadata.tags as string[] | undefined)?.includes("injected-parameters") ? [i] : [],
  );

/** A cell that prints {name: {t, r}} for the given names that are defined: Python type and repr. */
const typedDump = (names: string[]) =>
  `import json\nprint(json.dumps({n: {"t": type(globals()[n]).__name__, "r": repr(globals()[n])} for n in ${JSON.stringify(names)} if n in globals()}))`;
const typed = (t: string, r: string) => ({ t, r });

/** The printed dump of the last cell of the written notebook. */
function dumpOf(dir: string, name = "out.ipynb"): Record<string, { t: string; r: string }> {
  const nb = readOut(dir, name);
  return JSON.parse(stdoutOf(nb, nb.cells.length - 1)) as Record<string, { t: string; r: string }>;
}

function expectExit(result: CliResult, code: number): void {
  expect(
    result.code,
    `exit ${result.code} (${result.signal ?? "no signal"})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  ).toBe(code);
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
});

describe("nbhook kernels", () => {
  it("lists python3 and deno in a table", async () => {
    const result = await nbhook(["kernels"], os.tmpdir());
    expectExit(result, 0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^NAME\s+LANGUAGE\s+DISPLAY NAME\s+FROM\s+LOCATION$/);
    expect(
      lines.some((l) => /^python3\s+python\s.*\ssystem\s+\/usr\/share\/jupyter\/kernels\/python3$/.test(l)),
    ).toBe(true);
    expect(lines.some((l) => /^deno\s+typescript\s.*\sbundled\s/.test(l))).toBe(true);
  });

  it("shows where each kernel came from: an active venv's, and every folder searched with --paths", async () => {
    const venv = mkdtempSync(path.join(os.tmpdir(), "nbhook-cli-venv-"));
    const spec = path.join(venv, "share", "jupyter", "kernels", "analysis");
    mkdirSync(spec, { recursive: true });
    writeFileSync(
      path.join(spec, "kernel.json"),
      JSON.stringify({
        argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name: "Analysis",
        language: "python",
      }),
    );
    const result = await nbhook(["kernels", "--paths"], os.tmpdir(), 45_000, {
      ...process.env,
      VIRTUAL_ENV: venv,
    });
    expectExit(result, 0);
    expect(result.stdout).toMatch(
      new RegExp(`^analysis\\s+python\\s+Analysis\\s+VIRTUAL_ENV\\s+${spec}$`, "m"),
    );
    expect(result.stdout).toContain(`Searched, in order:\n`);
    expect(result.stdout).toContain(`  ${path.join(venv, "share", "jupyter", "kernels")}  (VIRTUAL_ENV)\n`);
    const json = await nbhook(["kernels", "--json"], os.tmpdir(), 45_000, {
      ...process.env,
      VIRTUAL_ENV: venv,
    });
    const specs = JSON.parse(json.stdout) as Array<{ name: string; source: string }>;
    expect(specs.find((s) => s.name === "analysis")?.source).toBe("VIRTUAL_ENV");
  });

  it("lists them as JSON with --json", async () => {
    const result = await nbhook(["kernels", "--json"], os.tmpdir());
    expectExit(result, 0);
    const specs = JSON.parse(result.stdout) as Array<{ name: string; language: string; argv: string[] }>;
    expect(specs.find((s) => s.name === "python3")).toMatchObject({ language: "python" });
    expect(specs.find((s) => s.name === "deno")).toMatchObject({ language: "typescript" });
    for (const spec of specs) expect(spec.argv.length).toBeGreaterThan(0);
  });
});

describe("nbhook run: parameters from the command line", () => {
  const PARAMS = 'city = "Lyon"\ndays = 1\nratio = 0.1\nflag = False\nnothing = "x"\nraw = "r"';
  const NAMES = ["city", "days", "ratio", "flag", "nothing", "raw"];

  it("runs with -p and -r, infers -p types as papermill does, and writes the executed notebook", async () => {
    const dir = workspace([{ source: PARAMS, tags: ["parameters"] }, typedDump(NAMES)]);
    const result = await nbhook(
      [
        "run",
        "nb.ipynb",
        "-p",
        "city",
        "Paris",
        "-p",
        "days",
        "3",
        "-p",
        "ratio",
        "0.5",
        "-p",
        "flag",
        "True",
        "-p",
        "nothing",
        "None",
        "-r",
        "raw",
        "3",
        "-o",
        "out.ipynb",
      ],
      dir,
    );
    expectExit(result, 0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^nbhook: starting kernel python3$/m);
    expect(result.stderr).toMatch(/^nbhook: cell 1\/3 ok in \d+ ms/m);
    expect(result.stderr).toMatch(/^nbhook: cell 2\/3 ok in \d+ ms/m);
    expect(result.stderr).toMatch(/^nbhook: cell 3\/3 ok in \d+ ms/m);
    expect(result.stderr).toMatch(/nbhook: done in [\d.]+ s; executed notebook written to out\.ipynb/);

    const out = readOut(dir);
    expect(injectedIndexes(out)).toEqual([1]);
    expect(sourceOf(out, 1)).toBe(
      '# Parameters\ncity = "Paris"\ndays = 3\nratio = 0.5\nflag = True\nnothing = None\nraw = "3"\n',
    );
    expect((out.cells[1] as CodeCell).execution_count).toBe(2);
    expect(out.metadata.papermill).toMatchObject({
      parameters: { city: "Paris", days: 3, ratio: 0.5, flag: true, nothing: null, raw: "3" },
    });
    expect(dumpOf(dir)).toEqual({
      city: typed("str", "'Paris'"),
      days: typed("int", "3"),
      ratio: typed("float", "0.5"),
      flag: typed("bool", "True"),
      nothing: typed("NoneType", "None"),
      raw: typed("str", "'3'"),
    });
  });

  it("writes <name>.out.ipynb beside the notebook without -o", async () => {
    const dir = workspace(["print('hi')"]);
    const result = await nbhook(["run", path.join(dir, "nb.ipynb"), "-q"], os.tmpdir());
    expectExit(result, 0);
    expect(result.stderr).toBe("");
    expect(stdoutOf(readOut(dir, "nb.out.ipynb"), 0)).toBe("hi\n");
  });

  it("reads -p values that are not simple: big ints, inf, nan, 1_000, and text that only looks typed", async () => {
    const dir = workspace([typedDump(["big", "inf", "nan", "under", "word", "lower", "empty"])]);
    const result = await nbhook(
      [
        "run",
        "nb.ipynb",
        "-o",
        "out.ipynb",
        "-p",
        "big",
        "123456789012345678901234567890",
        "-p",
        "inf",
        "-inf",
        "-p",
        "nan",
        "nan",
        "-p",
        "under",
        "1_000",
        "-p",
        "word",
        "Paris 3",
        "-p",
        "lower",
        "true",
        "-p",
        "empty",
        "",
      ],
      dir,
    );
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({
      big: typed("int", "123456789012345678901234567890"),
      inf: typed("float", "-inf"),
      nan: typed("float", "nan"),
      under: typed("int", "1000"),
      word: typed("str", "'Paris 3'"),
      lower: typed("str", "'true'"),
      empty: typed("str", "''"),
    });
  });

  it("reads a JSON parameters file with -f, ints apart from floats", async () => {
    const dir = workspace([typedDump(["days", "rate", "big", "name", "nums", "opts"])]);
    writeFileSync(
      path.join(dir, "params.json"),
      '{"days": 3, "rate": 3.0, "big": 12345678901234567890, "name": "é\\n😀", "nums": [1, 2.0], "opts": {"k": null}}',
    );
    const result = await nbhook(["run", "nb.ipynb", "-f", "params.json", "-o", "out.ipynb"], dir);
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({
      days: typed("int", "3"),
      rate: typed("float", "3.0"),
      big: typed("int", "12345678901234567890"),
      name: typed("str", "'é\\n😀'"),
      nums: typed("list", "[1, 2.0]"),
      opts: typed("dict", "{'k': None}"),
    });
  });

  it("reads a YAML parameters file with -f as PyYAML would: 3.0 is a float, 3 an int, yes a bool, n a string", async () => {
    const dir = workspace([typedDump(["days", "rate", "flag", "answer", "exp", "when", "nums", "none"])]);
    writeFileSync(
      path.join(dir, "params.yaml"),
      "days: 3\nrate: 3.0\nflag: yes\nanswer: n\nexp: 1e3\nwhen: 2020-01-01\nnums: [1, 1.5, .inf]\nnone: ~\n",
    );
    const result = await nbhook(["run", "nb.ipynb", "-f", "params.yaml", "-o", "out.ipynb"], dir);
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({
      days: typed("int", "3"),
      rate: typed("float", "3.0"),
      flag: typed("bool", "True"),
      answer: typed("str", "'n'"), // PyYAML reads y/n as strings
      exp: typed("str", "'1e3'"), // and a float without a dot as a string
      when: typed("str", "'2020-01-01'"),
      nums: typed("list", "[1, 1.5, inf]"),
      none: typed("NoneType", "None"),
    });
  });

  it("reads a YAML mapping given with -y", async () => {
    const dir = workspace([typedDump(["days", "rate", "city", "tags"])]);
    const result = await nbhook(
      ["run", "nb.ipynb", "-y", "{days: 4, rate: 2.0, city: Paris, tags: [a, 1]}", "-o", "out.ipynb"],
      dir,
    );
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({
      days: typed("int", "4"),
      rate: typed("float", "2.0"),
      city: typed("str", "'Paris'"),
      tags: typed("list", "['a', 1]"),
    });
  });

  it("lets later kinds of flag win whatever their order: -f, then -y, then -p, then -r; and the last of a kind", async () => {
    const dir = workspace([typedDump(["a", "b", "c", "d", "e"])]);
    writeFileSync(path.join(dir, "f.yaml"), "a: f\nb: f\nc: f\nd: f\ne: f\n");
    writeFileSync(path.join(dir, "g.json"), '{"e": "g"}');
    const result = await nbhook(
      [
        "run",
        "nb.ipynb",
        "-o",
        "out.ipynb",
        "-r",
        "d",
        "r",
        "-p",
        "c",
        "p",
        "-p",
        "d",
        "p",
        "-y",
        "{b: y, c: y, d: y}",
        "-f",
        "f.yaml",
        "-f",
        "g.json",
        "-p",
        "c",
        "2",
      ],
      dir,
    );
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({
      a: typed("str", "'f'"),
      b: typed("str", "'y'"),
      c: typed("int", "2"),
      d: typed("str", "'r'"),
      e: typed("str", "'g'"),
    });
  });

  it("passes parameters named __proto__ like any other name", async () => {
    const dir = workspace([typedDump(["__proto__", "x"])]);
    const result = await nbhook(
      ["run", "nb.ipynb", "-o", "out.ipynb", "-p", "__proto__", "1", "-y", "{x: 2}"],
      dir,
    );
    expectExit(result, 0);
    expect(dumpOf(dir)).toEqual({ ["__proto__"]: typed("int", "1"), x: typed("int", "2") });
    const viaYaml = await nbhook(["run", "nb.ipynb", "-o", "out.ipynb", "-y", "{__proto__: 3, x: 4}"], dir);
    expectExit(viaYaml, 0);
    expect(dumpOf(dir)).toEqual({ ["__proto__"]: typed("int", "3"), x: typed("int", "4") });
  });

  it("injects -p values into a Deno notebook as TypeScript", async () => {
    const dir = workspace(
      [
        { source: 'const city: string = "Lyon";\nlet days = 1;', tags: ["parameters"] },
        "console.log(JSON.stringify({ city, days }), typeof days);",
      ],
      "deno",
    );
    const result = await nbhook(
      ["run", "nb.ipynb", "-p", "city", "Paris", "-p", "days", "3", "-o", "out.ipynb"],
      dir,
    );
    expectExit(result, 0);
    expect(result.stderr).toMatch(/^nbhook: starting kernel deno$/m);
    const out = readOut(dir);
    expect(sourceOf(out, 1)).toBe('// Parameters\nconst city = "Paris";\nlet days = 3;\n');
    expect(stdoutOf(out, 2)).toBe('{"city":"Paris","days":3} number\n');
  });
});

describe("nbhook run: failures and exit codes", () => {
  it("exits 1 when a cell fails, names the error and the cell, and writes cells up to the error", async () => {
    const dir = workspace([
      { source: "n = 1", tags: ["parameters"] },
      "print('before')",
      "raise ValueError(f'bad value {n}')",
      "print('never')",
    ]);
    const result = await nbhook(["run", "nb.ipynb", "-p", "n", "5", "-o", "out.ipynb"], dir);
    expectExit(result, 1);
    // Cell 4 of the executed notebook: the injected cell is cell 2.
    expect(result.stderr).toMatch(
      /nbhook: run failed in cell 4 of the notebook \(In \[4\]\) after [\d.]+ s: ValueError: bad value 5/,
    );
    expect(result.stderr).toContain("Traceback");
    expect(result.stderr).not.toContain("\x1b["); // the traceback's colours are stripped
    expect(result.stderr).toContain("executed notebook (up to the failing cell) written to out.ipynb");
    expect(result.stderr).toMatch(/^nbhook: cell 3\/5 ok in \d+ ms/m);
    expect(result.stderr).toMatch(/^nbhook: cell 4\/5 error in \d+ ms/m);
    expect(result.stderr).not.toMatch(/cell 5\/5/);

    const out = readOut(dir);
    expect(out.cells).toHaveLength(5);
    expect(stdoutOf(out, 2)).toBe("before\n");
    expect((out.cells[3] as CodeCell).outputs).toEqual([
      expect.objectContaining({ output_type: "error", ename: "ValueError", evalue: "bad value 5" }),
    ]);
    expect(out.cells[3]!.metadata.papermill).toMatchObject({ status: "failed", exception: true });
    expect(out.cells[4]).toMatchObject({ outputs: [], execution_count: null });
  });

  it("exits 3 when --timeout runs out during an endless loop", async () => {
    const dir = workspace([
      "print('start')",
      "import time\nwhile True:\n    time.sleep(0.05)",
      "print('never')",
    ]);
    const result = await nbhook(["run", "nb.ipynb", "--timeout", "2", "-o", "out.ipynb"], dir, 30_000);
    expectExit(result, 3);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.stderr).toMatch(/run failed in cell 2 .*TimeoutError: the run timed out after 2 s/);
    const out = readOut(dir);
    expect(stdoutOf(out, 0)).toBe("start\n");
    // The kernel is interrupted, so a KeyboardInterrupt may come before nbhook's TimeoutError.
    expect((out.cells[1] as CodeCell).outputs.at(-1)).toEqual(
      expect.objectContaining({
        output_type: "error",
        ename: "TimeoutError",
        evalue: "the run timed out after 2 s",
      }),
    );
    expect(out.cells[2]).toMatchObject({ outputs: [], execution_count: null });
  });

  it("exits 3 when --cell-timeout runs out", async () => {
    const dir = workspace(["import time\ntime.sleep(60)"]);
    const result = await nbhook(["run", "nb.ipynb", "--cell-timeout", "1", "-o", "out.ipynb"], dir, 30_000);
    expectExit(result, 3);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.stderr).toContain("TimeoutError");
  });

  it("exits 4 when the kernel process exits, with its exit code", async () => {
    const dir = workspace(["print('before')", "import os\nos._exit(1)", "print('never')"]);
    const result = await nbhook(["run", "nb.ipynb", "-o", "out.ipynb"], dir);
    expectExit(result, 4);
    expect(result.stderr).toMatch(/run failed in cell 2 .*KernelDied: .*exited with code 1/);
    expect(stdoutOf(readOut(dir), 0)).toBe("before\n");
  });

  it("exits 2 for an unknown --kernel and lists the kernels there are", async () => {
    const dir = workspace(["print(1)"]);
    const result = await nbhook(["run", "nb.ipynb", "--kernel", "nope"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain('no kernel named "nope"');
    expect(result.stderr).toMatch(/^\s+python3\s+python\s/m);
    expect(result.stderr).toMatch(/^\s+deno\s+typescript\s/m);
    expect(existsSync(path.join(dir, "nb.out.ipynb"))).toBe(false);
  });

  it("exits 2 for a file that is not a valid nbformat notebook, naming the cell and the field", async () => {
    const nb = makeNotebook(["print(1)", "print(2)", "print(3)"]) as unknown as {
      cells: Array<Record<string, unknown>>;
    };
    delete nb.cells[1]!.source;
    nb.cells[2]!.outputs = [{ output_type: "stream", name: "stdout" }];
    const dir = workspace(nb as unknown as Notebook);
    const result = await nbhook(["run", "nb.ipynb"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain("nb.ipynb is not a valid nbformat v4 notebook");
    expect(result.stderr).toContain('code cell 2, field "source"');
    expect(result.stderr).toContain('code cell 3, field "outputs.0.text"');
    expect(result.stderr).not.toContain("unexpected error");
  });

  it("exits 2 for a file that is not JSON", async () => {
    const dir = workspace([]);
    writeFileSync(path.join(dir, "nb.ipynb"), "not json");
    const result = await nbhook(["run", "nb.ipynb"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain("nb.ipynb is not JSON");
  });

  it("exits 2 for a notebook that does not exist", async () => {
    const dir = workspace([]);
    const result = await nbhook(["run", "missing.ipynb"], dir);
    expectExit(result, 2);
    expect(result.stderr).toBe("nbhook: cannot read notebook missing.ipynb: no such file\n");
  });

  it("exits 2 for a parameters file that does not exist or is not a mapping", async () => {
    const dir = workspace(["print(1)"]);
    writeFileSync(path.join(dir, "list.yaml"), "- 1\n- 2\n");
    const missing = await nbhook(["run", "nb.ipynb", "-f", "nope.yaml"], dir);
    expectExit(missing, 2);
    expect(missing.stderr).toContain("cannot read parameters file nope.yaml");
    const list = await nbhook(["run", "nb.ipynb", "-f", "list.yaml"], dir);
    expectExit(list, 2);
    expect(list.stderr).toContain(
      "parameters file list.yaml must be a mapping of names to values; it is a list",
    );
  });

  it("exits 2 with a clear message when -p has a name but no value", async () => {
    const dir = workspace(["print(1)"]);
    const result = await nbhook(["run", "nb.ipynb", "-p", "city"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain('-p takes two values: -p NAME VALUE (got only "city")');
    expect(result.stderr).not.toContain("unexpected error");
    expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
  });

  it("exits 2 when -p is given nothing at all", async () => {
    const dir = workspace(["print(1)"]);
    const result = await nbhook(["run", "nb.ipynb", "-p"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain("argument missing");
  });

  it("exits 2, not 1 (a failed cell), for an unknown option or a missing notebook argument", async () => {
    const dir = workspace(["print(1)"]);
    const unknown = await nbhook(["run", "nb.ipynb", "--bogus"], dir);
    expectExit(unknown, 2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const missing = await nbhook(["run"], dir);
    expectExit(missing, 2);
    expect(missing.stderr).toContain("missing required argument 'notebook'");
    const kernels = await nbhook(["kernels", "--bogus"], dir);
    expectExit(kernels, 2);
  });

  it("exits 2 for a parameter name the kernel language cannot use", async () => {
    const dir = workspace(["print(1)"]);
    const result = await nbhook(["run", "nb.ipynb", "-p", "my-name", "1"], dir);
    expectExit(result, 2);
    expect(result.stderr).toContain('"my-name"');
    expect(result.stderr).not.toContain("unexpected error");
  });
});

describe("nbhook run --response-out", () => {
  it("writes the body the notebook returned byte for byte and prints its content type", async () => {
    const dir = workspace([
      "import nbhook\nbody = bytes(range(256)) + 'é😀\\r\\n'.encode('utf-8') + b'\\x00'\n" +
        "nbhook.respond(body, 'application/x-test; charset=binary')",
    ]);
    const result = await nbhook(["run", "nb.ipynb", "-o", "out.ipynb", "--response-out", "body.bin"], dir);
    expectExit(result, 0);
    expect(result.stdout).toBe("application/x-test; charset=binary\n");
    const expected = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from("é😀\r\n", "utf8"),
      Buffer.from([0]),
    ]);
    expect(readFileSync(path.join(dir, "body.bin")).equals(expected)).toBe(true);
  });

  it("writes the default JSON reply {id, status, time} when the notebook does not respond", async () => {
    const dir = workspace(["x = 1"]);
    const result = await nbhook(["run", "nb.ipynb", "-o", "out.ipynb", "--response-out", "reply.json"], dir);
    expectExit(result, 0);
    expect(result.stdout).toBe("application/json\n");
    const reply = JSON.parse(readFileSync(path.join(dir, "reply.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(reply).sort()).toEqual(["id", "status", "time"]);
    expect(reply.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(reply.status).toBe("Done");
    expect(typeof reply.time).toBe("number");
    expect(reply.time as number).toBeGreaterThan(0);
  });

  it("prints a JSON summary with --json", async () => {
    const dir = workspace(["x = 1"]);
    const result = await nbhook(["run", "nb.ipynb", "-o", "out.ipynb", "--json", "-q"], dir);
    expectExit(result, 0);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "ok", output: "out.ipynb", kernel: "python3" });
  });
});
