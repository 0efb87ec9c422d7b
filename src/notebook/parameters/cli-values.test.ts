import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import { inferCliValue, parseYamlParameters, readParametersFile } from "./cli-values.js";

describe("inferCliValue", () => {
  it.each<[string, ParamValue]>([
    ["True", true],
    ["False", false],
    ["None", null],
    ["true", "true"],
    ["none", "none"],
    ["0", 0n],
    ["-3", -3n],
    [" 42 ", 42n],
    ["1_000", 1000n],
    ["007", 7n],
    ["+5", 5n],
    ["٣", 3n],
    ["123456789012345678901234567890", 123456789012345678901234567890n],
    ["1.5", 1.5],
    ["1e5", 100000],
    [".5", 0.5],
    ["5.", 5],
    ["1_0.5e1_0", 105000000000],
    ["-Infinity", -Infinity],
    ["inf", Infinity],
    ["+INF", Infinity],
    ["1__0", "1__0"],
    ["_1", "_1"],
    ["1_", "1_"],
    ["0x10", "0x10"],
    ["- 5", "- 5"],
    ["1e", "1e"],
    ["infinit", "infinit"],
    ["", ""],
    ["abc", "abc"],
    ["\u001c5", "\u001c5"],
  ])("reads %j as papermill does", (text, value) => {
    expect(inferCliValue(text)).toStrictEqual(value);
  });

  it("reads any case of nan as a float", () => {
    expect(inferCliValue("nAn")).toBeNaN();
    expect(inferCliValue("-nan")).toBeNaN();
  });
});

describe("parseYamlParameters", () => {
  it("keeps ints apart from floats, and reads .nan and .inf", () => {
    const params = parseYamlParameters("a: 3\nb: 3.0\nc: .nan\nd: -.inf\ne: 1.0e+3\nf: [1, {x: null}]\n");
    expect(params).toEqual({ a: 3n, b: 3, c: NaN, d: -Infinity, e: 1000, f: [1n, { x: null }] });
  });

  it.each<[string, ParamValue]>([
    ["y", "y"],
    ["N", "N"],
    ["Yes", true],
    ["OFF", false],
    ["tRue", "tRue"],
    ["Null", null],
    ["nULL", "nULL"],
    ["", null],
    ["1e3", "1e3"],
    ["1.5e3", "1.5e3"],
    ["1.5e-3", 0.0015],
    [".5", 0.5],
    ["-.5", "-.5"],
    ["5.", 5],
    [".", "."],
    ["._", "._"],
    ["08", "08"],
    ["017", 15n],
    ["0o17", "0o17"],
    ["-0x1f", -31n],
    ["0b101", 5n],
    ["190:20:30", 685230n],
    ["-1:30.5", -90.5],
    ["+.inf", Infinity],
    ["-0.0", -0],
    ["!!float 3", 3],
    ['!!int "0x10"', 16n],
    ["'yes'", "yes"],
  ])("reads the scalar %j as PyYAML's safe_load does", (text, value) => {
    expect(parseYamlParameters(`k: ${text}`).k).toStrictEqual(value);
  });

  it("refuses an explicit tag whose text does not fit it, as PyYAML does", () => {
    expect(() => parseYamlParameters("k: !!int abc", "-y")).toThrow(
      /-y is not valid YAML: .*cannot read "abc" as int/,
    );
    expect(() => parseYamlParameters("k: !!bool maybe", "-y")).toThrow(/cannot read "maybe" as bool/);
  });

  it("reads YAML 1.1 as PyYAML does, but leaves timestamps as strings", () => {
    expect(parseYamlParameters("a: yes\nb: off\nc: 1_000\nd: 0x1f\ne: 2020-01-01\nf: ~\ng: 1:30\n")).toEqual({
      a: true,
      b: false,
      c: 1000n,
      d: 31n,
      e: "2020-01-01",
      f: null,
      g: 90n,
    });
  });

  it("makes an empty document no parameters", () => {
    expect(parseYamlParameters("")).toEqual({});
  });

  it("refuses a document that is not a mapping, and bad YAML", () => {
    expect(() => parseYamlParameters("- 1\n- 2", "-y")).toThrow(
      "-y must be a mapping of names to values; it is a list",
    );
    expect(() => parseYamlParameters("a: [1", "-y")).toThrow(/-y is not valid YAML/);
    expect(() => parseYamlParameters("a: !!binary aGVsbG8=", "-y")).toThrow(/a is binary data/);
  });
});

describe("readParametersFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nbhook-params-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a YAML file", async () => {
    const file = join(dir, "p.yaml");
    await writeFile(file, "days: 3\nname: x\n");
    expect(await readParametersFile(file)).toEqual({ days: 3n, name: "x" });
  });

  it("reads a JSON file, ints apart from floats", async () => {
    const file = join(dir, "p.json");
    await writeFile(file, '{"days": 3, "rate": 3.0, "big": 12345678901234567890}');
    expect(await readParametersFile(file)).toEqual({ days: 3n, rate: 3, big: 12345678901234567890n });
  });

  it("names the file when its top level is not a mapping", async () => {
    const file = join(dir, "list.json");
    await writeFile(file, "[1, 2]");
    await expect(readParametersFile(file)).rejects.toThrow(`parameters file ${file} must be a mapping`);
    const yaml = join(dir, "scalar.yml");
    await writeFile(yaml, "just text");
    await expect(readParametersFile(yaml)).rejects.toThrow(`parameters file ${yaml} must be a mapping`);
  });

  it("names the file when it is not JSON", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, "{days: 3}");
    await expect(readParametersFile(file)).rejects.toThrow(`parameters file ${file} is not valid JSON`);
  });

  it("says when the file cannot be read", async () => {
    const missing = join(dir, "missing.yaml");
    await expect(readParametersFile(missing)).rejects.toBeInstanceOf(AppError);
    await expect(readParametersFile(missing)).rejects.toThrow(`cannot read parameters file ${missing}`);
  });
});

describe("limits of command-line values", () => {
  it("refuses an int of more than 10,000 digits, naming the parameter", () => {
    expect(inferCliValue("9".repeat(10_000), "n")).toBe(BigInt("9".repeat(10_000)));
    expect(() => inferCliValue("9".repeat(10_001), "n")).toThrow(
      /^parameter "n" is an int of more than 10000 digits/,
    );
  });

  it("refuses YAML nested deeper than the limit; the document's own mapping is no level", () => {
    const flow = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    expect(parseYamlParameters(`a: ${flow(100)}`, "-y")).toBeDefined();
    expect(() => parseYamlParameters(`a: ${flow(101)}`, "-y")).toThrow(
      /^parameter "a" is nested more than 100/,
    );
    // Deep enough for the yaml package's own recursion to give up: still the nesting message.
    expect(() => parseYamlParameters(`a: ${flow(3000)}`, "-y")).toThrow(/^parameter "-y" is nested/);
    expect(() => parseYamlParameters(`a: ${"9".repeat(10_001)}`, "-y")).toThrow(/"a" is an int of more than/);
  });
});
