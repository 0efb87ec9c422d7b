import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { parseNotebook, serializeNotebook, writeNotebook } from "./read.js";

const valid = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {},
  cells: [
    { cell_type: "markdown", id: "m", metadata: {}, source: "# Title" },
    {
      cell_type: "code",
      id: "c",
      metadata: {},
      source: ["x = 1\n", "x"],
      outputs: [],
      execution_count: null,
    },
  ],
};

describe("parseNotebook", () => {
  it("accepts an nbformat v4 notebook and keeps it as written", () => {
    const nb = parseNotebook(JSON.stringify(valid));
    expect(nb.cells).toHaveLength(2);
    expect(nb.cells[1]!.source).toEqual(["x = 1\n", "x"]);
  });

  it("names the cell and field that is wrong", () => {
    const bad = structuredClone(valid) as { cells: Record<string, unknown>[] };
    bad.cells[1]!.outputs = [{ output_type: "stream", name: "stdout" }];
    expect(() => parseNotebook(JSON.stringify(bad), "bad.ipynb")).toThrow(
      /bad\.ipynb is not a valid nbformat v4 notebook:\n {2}- code cell 2, field "outputs\.0\.text"/,
    );
  });

  it("refuses other nbformat versions and non-JSON with a clear message", () => {
    expect(() => parseNotebook(JSON.stringify({ ...valid, nbformat: 3 }))).toThrow(
      /nbformat 4 notebooks only/,
    );
    expect(() => parseNotebook("{oops", "x.ipynb")).toThrow(/x\.ipynb is not JSON/);
  });

  it("fills the fields Jupyter treats as optional", () => {
    const nb = parseNotebook(
      JSON.stringify({ nbformat: 4, nbformat_minor: 4, cells: [{ cell_type: "code", source: "1" }] }),
    );
    expect(nb.cells[0]).toMatchObject({ metadata: {}, outputs: [], execution_count: null });
  });
});

describe("serializeNotebook", () => {
  it("writes as nbformat does: sorted keys, one-space indent, multi-line strings as lines", () => {
    const nb = parseNotebook(JSON.stringify(valid));
    (nb.cells[1] as { outputs: unknown[] }).outputs.push(
      { output_type: "stream", name: "stdout", text: "a\nb\r\nc" },
      {
        output_type: "display_data",
        metadata: {},
        data: { "text/html": "<p>\n</p>", "application/json": { k: "a\nb" } },
      },
    );
    const text = serializeNotebook(nb);
    const back = JSON.parse(text);
    expect(back.cells[0].source).toEqual(["# Title"]);
    expect(back.cells[1].outputs[0].text).toEqual(["a\n", "b\r\n", "c"]);
    expect(back.cells[1].outputs[1].data["text/html"]).toEqual(["<p>\n", "</p>"]);
    expect(back.cells[1].outputs[1].data["application/json"]).toEqual({ k: "a\nb" });
    expect(text.startsWith('{\n "cells": [\n  {\n   "cell_type": "markdown"')).toBe(true);
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("writes atomically: no temporary file is left behind", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-read-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "out.ipynb");
    await writeNotebook(file, parseNotebook(JSON.stringify(valid)));
    expect(readdirSync(dir)).toEqual(["out.ipynb"]);
    expect(JSON.parse(readFileSync(file, "utf8")).nbformat).toBe(4);
  });
});
