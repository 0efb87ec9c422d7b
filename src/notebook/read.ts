/**
 * Reading, validating and writing nbformat v4 notebooks. Validation covers what nbhook and Jupyter
 * rely on (cell types, sources, outputs) and reports the cell number and field that is wrong.
 * Writes go to a temporary name and are renamed, so a crash never leaves half a notebook.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile, rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { AppError } from "../errors.js";
import type { Notebook } from "./types.js";

const multiline = z.union([z.string(), z.array(z.string())]);
const metadata = z.record(z.string(), z.unknown());
const mimeBundle = z.record(z.string(), z.unknown());

const outputSchema = z.discriminatedUnion("output_type", [
  z.object({ output_type: z.literal("stream"), name: z.enum(["stdout", "stderr"]), text: multiline }),
  z.object({ output_type: z.literal("display_data"), data: mimeBundle, metadata: metadata.optional() }),
  z.object({
    output_type: z.literal("execute_result"),
    data: mimeBundle,
    metadata: metadata.optional(),
    execution_count: z.number().int().nullable(),
  }),
  z.object({
    output_type: z.literal("error"),
    ename: z.string(),
    evalue: z.string(),
    traceback: z.array(z.string()),
  }),
]);

const cellSchema = z.discriminatedUnion("cell_type", [
  z.object({
    cell_type: z.literal("code"),
    source: multiline,
    metadata: metadata.default({}),
    outputs: z.array(outputSchema).default([]),
    execution_count: z.number().int().nullable().default(null),
    id: z.string().optional(),
  }),
  z.object({
    cell_type: z.literal("markdown"),
    source: multiline,
    metadata: metadata.default({}),
    id: z.string().optional(),
  }),
  z.object({
    cell_type: z.literal("raw"),
    source: multiline,
    metadata: metadata.default({}),
    id: z.string().optional(),
  }),
]);

const notebookSchema = z.object({
  nbformat: z.literal(4, { error: "nbhook reads nbformat 4 notebooks only (Jupyter saves 4 since 2015)" }),
  nbformat_minor: z.number().int().min(0),
  metadata: metadata.default({}),
  cells: z.array(cellSchema),
});

function describeIssue(issue: z.core.$ZodIssue, doc: unknown): string {
  const [first, index, ...rest] = issue.path;
  if (first === "cells" && typeof index === "number") {
    const cell = (doc as { cells: unknown[] }).cells[index] as { cell_type?: unknown } | undefined;
    const kind = typeof cell?.cell_type === "string" ? `${cell.cell_type} ` : "";
    const field = rest.length ? `field "${rest.join(".")}"` : "the cell";
    return `${kind}cell ${index + 1}, ${field}: ${issue.message}`;
  }
  return `${issue.path.length ? `field "${issue.path.join(".")}"` : "notebook"}: ${issue.message}`;
}

/** Parses and validates notebook JSON; `source` names the file in error messages. */
export function parseNotebook(text: string, source = "notebook"): Notebook {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AppError("notebook-invalid", `${source} is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const parsed = notebookSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `  - ${describeIssue(i, doc)}`);
    throw new AppError(
      "notebook-invalid",
      `${source} is not a valid nbformat v4 notebook:\n${issues.join("\n")}`,
    );
  }
  // Keep the document as written (unknown fields included); validation only checks.
  const nb = doc as Notebook;
  for (const [i, cell] of parsed.data.cells.entries()) {
    const target = nb.cells[i] as unknown as Record<string, unknown>;
    target.metadata ??= {};
    if (cell.cell_type === "code") {
      target.outputs ??= [];
      target.execution_count ??= null;
    }
  }
  nb.metadata ??= {};
  return nb;
}

export async function readNotebook(file: string): Promise<Notebook> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new AppError("notebook-invalid", `cannot read notebook ${file}: ${why}`, { cause: err });
  }
  return parseNotebook(text, file);
}

/**
 * Jupyter's own layout (nbformat.write): one-space indent, keys sorted, trailing newline, and
 * multi-line strings (sources, stream text, non-JSON MIME data) stored as lists of lines.
 */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((cell) => {
    const out: Record<string, unknown> = { ...cell, source: splitLines(cell.source) };
    if (cell.cell_type === "code" && Array.isArray(cell.outputs)) {
      out.outputs = cell.outputs.map((o) => {
        const output = { ...(o as object) } as Record<string, unknown>;
        if (output.output_type === "stream") output.text = splitLines(output.text as string | string[]);
        if (output.data && typeof output.data === "object") {
          output.data = Object.fromEntries(
            Object.entries(output.data).map(([mime, value]) => [
              mime,
              isJsonMime(mime) || (typeof value !== "string" && !Array.isArray(value))
                ? value
                : splitLines(value as string | string[]),
            ]),
          );
        }
        return output;
      });
    }
    return out;
  });
  return JSON.stringify(sortKeys({ ...nb, cells }), null, 1) + "\n";
}

function isJsonMime(mime: string): boolean {
  return mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"));
}

// eslint-disable-next-line no-control-regex -- these are the line breaks Python's splitlines knows
const PYTHON_LINE = /[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]*(?:\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]|$)/g;

/** Python's str.splitlines(keepends=True), which nbformat uses to store multi-line strings. */
function splitLines(text: string | string[]): string[] {
  const joined = Array.isArray(text) ? text.join("") : text;
  return joined.match(PYTHON_LINE)!.filter((line) => line.length > 0);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Writes a file via a temporary sibling and a rename. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export function writeNotebook(file: string, nb: Notebook): Promise<void> {
  return writeFileAtomic(file, serializeNotebook(nb));
}

/** A cell's source as one string (nbformat allows a list of lines). */
export function sourceText(source: string | string[]): string {
  return Array.isArray(source) ? source.join("") : source;
}
