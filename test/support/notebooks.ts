/**
 * Small notebooks built in code for tests: each cell is a source string, or `{ source, tags,
 * type }` for tagged or markdown cells.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Notebook } from "../../src/notebook/types.js";

export type CellSpec = string | { source: string; tags?: string[]; type?: "code" | "markdown" | "raw" };

const KERNELS = {
  python3: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  deno: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
} as const;

export function makeNotebook(cells: CellSpec[], kernel: keyof typeof KERNELS = "python3"): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: structuredClone(KERNELS[kernel]) as never,
    cells: cells.map((spec, i) => {
      const { source, tags, type = "code" } = typeof spec === "string" ? { source: spec } : spec;
      const metadata = tags ? { tags } : {};
      const id = `cell-${i}`;
      return type === "code"
        ? { cell_type: "code", id, metadata, source, outputs: [], execution_count: null }
        : { cell_type: type, id, metadata, source };
    }),
  } as Notebook;
}

/** Writes the notebook into a fresh temporary folder and returns its path. */
export function writeTempNotebook(nb: Notebook, name = "nb.ipynb"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-nb-"));
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(nb));
  return file;
}
