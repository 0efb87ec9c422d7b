/**
 * @module Finds what an executed notebook chose to answer (DESIGN.md, "Response").
 *
 * Two forms count, checked output by output in cell order; the first response wins:
 * - nbhook's: a `display_data`/`execute_result` whose bundle holds {@link RESPONSE_MIME}
 *   (`{content_type, data, encoding, filename?, status?, headers?, kind?}`), displayed by the
 *   in-kernel helper (`python/nbhook/webhook.py`);
 * - Naas's: an output whose metadata carries `naas_api: true` (top level, or under a MIME key as
 *   IPython stores it), written by the real Naas library. It is mapped the way the Naas runner
 *   did (naas-reference.md §4), minus its bugs: respond_file is read as bytes, a GIF works (also
 *   when IPython filed it under image/png: an image's type is taken from its first bytes).
 *
 * A response that is there but broken (an invalid nbhook bundle, a Naas respond_file whose file
 * cannot be read) is not skipped silently: it is found as a {@link BrokenResponse}, which fails the
 * run with its error, so the caller sees what went wrong.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { coerceError } from "../errors.js";
import {
  RESPONSE_MIME,
  type BrokenResponse,
  type Cell,
  type NotebookResponse,
  type Output,
} from "./types.js";

export interface FindResponseOptions {
  /**
   * Folder a relative Naas respond_file path is resolved against: the kernel's working
   * directory. Naas writes absolute paths, so this rarely matters.
   * @default process.cwd()
   */
  baseDir?: string;
}

/** The notebook's response: the first response output in cell order, or `undefined`. */
export function findResponse(
  cells: Cell[],
  options: FindResponseOptions = {},
): NotebookResponse | BrokenResponse | undefined {
  const { baseDir = process.cwd() } = options;
  for (const [cellIndex, cell] of cells.entries()) {
    if (cell.cell_type !== "code" || !Array.isArray(cell.outputs)) continue;
    for (const [outputIndex, output] of (cell.outputs as Output[]).entries()) {
      const where = `cell ${cellIndex + 1}, output ${outputIndex + 1}`;
      const response = responseOf(output, where, baseDir);
      if (response && "ename" in response) return { kind: "broken", ...response, cellIndex };
      if (response) return response;
    }
  }
  return undefined;
}

type MimeData = Record<string, unknown>;

/** A response found but unusable: why, for the run's error. */
interface Problem {
  ename: string;
  evalue: string;
}

function responseOf(output: Output, where: string, baseDir: string): NotebookResponse | Problem | undefined {
  if (output.output_type !== "display_data" && output.output_type !== "execute_result") return undefined;
  const data = isRecord(output.data) ? output.data : {};
  if (RESPONSE_MIME in data) return decodeBundle(data[RESPONSE_MIME], where);
  const naasType = naasMarker(output.metadata);
  if (naasType === undefined) return undefined;
  return naasResponse(data, naasType, baseDir);
}

// ---------------------------------------------------------------------------------------------
// nbhook's response bundle

const bundleSchema = z.object({
  content_type: z.string().min(1),
  data: z.string(),
  encoding: z.enum(["utf-8", "base64"]),
  filename: z.string().min(1).optional(),
  status: z.int().min(200).max(599).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  kind: z.literal("notebook").optional(),
});

function decodeBundle(raw: unknown, where: string): NotebookResponse | Problem {
  let value = raw;
  if (typeof raw === "string" || Array.isArray(raw)) {
    // Some writers store a JSON MIME value as (multi-line) text instead of an object.
    try {
      value = JSON.parse(joinText(raw) ?? "");
    } catch (error) {
      return problem(
        "InvalidResponse",
        `the response in ${where} is not JSON: ${coerceError(error).message}`,
      );
    }
  }
  const parsed = bundleSchema.safeParse(value);
  if (!parsed.success) {
    const why = z.prettifyError(parsed.error).replace(/\s*\n\s*/g, " ");
    return problem("InvalidResponse", `the response in ${where} is invalid: ${why}`);
  }
  const bundle = parsed.data;
  const response: NotebookResponse = {
    contentType: bundle.content_type,
    body: Buffer.from(bundle.data, bundle.encoding === "base64" ? "base64" : "utf8"),
  };
  if (bundle.filename !== undefined) response.filename = bundle.filename;
  if (bundle.status !== undefined) response.status = bundle.status;
  if (bundle.headers !== undefined) response.headers = bundle.headers;
  if (bundle.kind !== undefined) response.kind = bundle.kind;
  return response;
}

// ---------------------------------------------------------------------------------------------
// Naas's naas_api outputs

/**
 * The `naas_type` of an output Naas marked as a response (`""` when it has none), or `undefined`
 * when it is not one. Like Naas, only the first marked metadata entry counts.
 */
function naasMarker(metadata: unknown): string | undefined {
  if (!isRecord(metadata)) return undefined;
  const entries = [metadata, ...Object.values(metadata).filter(isRecord)];
  const marked = entries.find((entry) => isTruthy(entry.naas_api));
  if (!marked) return undefined;
  return typeof marked.naas_type === "string" ? marked.naas_type : "";
}

/** Naas's `__check_output`, branch by branch; `undefined` when nothing usable (a falsy JSON). */
function naasResponse(
  data: MimeData,
  naasType: string,
  baseDir: string,
): NotebookResponse | Problem | undefined {
  if (naasType === "notebook") return { contentType: "text/html", body: Buffer.alloc(0), kind: "notebook" };
  const json = data["application/json"];
  if (isTruthy(json) && naasType && isRecord(json) && typeof json.path === "string") {
    return naasFile(path.resolve(baseDir, json.path), naasType);
  }
  const html = joinText(data["text/html"]);
  if (isTruthy(html) && html !== undefined) {
    if (naasType === "markdown") return textResponse("text/html", html);
    if (naasType === "text") return textResponse("text/plain", html);
    if (naasType === "csv") return textResponse("text/csv", csvFromHtmlTable(html));
  }
  if (isTruthy(json)) return textResponse("application/json", dumpsLikePython(json));
  for (const mime of ["image/jpeg", "image/png", "image/gif"]) {
    const image = joinText(data[mime]);
    if (!image) continue;
    const body = Buffer.from(image, "base64");
    // IPython files GIF bytes given as `Image(data=...)` under image/png: trust the bytes.
    return { contentType: imageTypeOf(body) ?? mime, body };
  }
  if (html) return textResponse("text/html", html);
  const svg = joinText(data["image/svg+xml"]);
  if (svg) return textResponse("image/svg+xml", svg);
  return undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** image/png, image/jpeg or image/gif from the first bytes, else `undefined`. */
function imageTypeOf(bytes: Buffer): string | undefined {
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return "image/png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  const head = bytes.subarray(0, 6).toString("latin1");
  if (head === "GIF87a" || head === "GIF89a") return "image/gif";
  return undefined;
}

/** respond_file: `{"path": abspath}` with the file's MIME type as naas_type, read as bytes. */
function naasFile(filePath: string, contentType: string): NotebookResponse | Problem {
  try {
    return { contentType, body: readFileSync(filePath), filename: path.basename(filePath) };
  } catch (error) {
    const ename = (error as NodeJS.ErrnoException).code === "ENOENT" ? "FileNotFoundError" : "OSError";
    return problem(ename, `respond_file: cannot read ${filePath}: ${coerceError(error).message}`);
  }
}

/**
 * The first `<table>` of `html` as CSV the way Naas wrote it (BeautifulSoup + `csv.writer`): one
 * line per `<tr>`, each `<td>`/`<th>`'s text (trimmed text pieces joined), every field quoted,
 * `;` separators, `\n` line ends. Hand-written because no HTML parser is a dependency; it reads
 * what `DataFrame.to_html()` writes (nested tables are not supported). No table gives `""`.
 */
export function csvFromHtmlTable(html: string): string {
  const token = /<!--[\s\S]*?-->|<(\/?)([a-zA-Z][\w-]*)[^>]*>|[^<]+|</g;
  const lines: string[] = [];
  let depth = 0;
  let row: string[] | undefined;
  let cell: string[] | undefined;
  const closeCell = () => {
    if (cell && row) row.push(cell.join(""));
    cell = undefined;
  };
  const closeRow = () => {
    closeCell();
    if (row) lines.push(row.map((field) => `"${field.replaceAll('"', '""')}"`).join(";") + "\n");
    row = undefined;
  };
  for (const match of html.matchAll(token)) {
    const [text, slash, rawName] = match;
    const name = rawName?.toLowerCase();
    if (text.startsWith("<!--")) continue;
    if (name === "table") {
      if (slash) depth -= 1;
      else depth += 1;
      if (depth === 0) break;
    } else if (depth === 0) {
      continue;
    } else if (name === "tr") {
      closeRow();
      if (!slash) row = [];
    } else if (name === "td" || name === "th") {
      closeCell();
      if (!slash && row) cell = [];
    } else if (name === undefined && cell) {
      const piece = decodeEntities(text).trim();
      if (piece) cell.push(piece);
    }
  }
  closeRow();
  return lines.join("");
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, body: string) => {
    if (body.startsWith("#")) {
      const code =
        body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? entity;
  });
}

/**
 * JSON text as Python's `json.dumps` writes it by default (`", "` / `": "` separators, non-ASCII
 * as `\uXXXX`), so Naas responses keep their bytes. Numbers are spelled the JavaScript way
 * (`2.0` read from the notebook comes back as `2`).
 */
export function dumpsLikePython(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return asciiJsonString(value);
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : "null";
  if (typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(dumpsLikePython).join(", ")}]`;
  const members = Object.entries(value).map(
    ([key, item]) => `${asciiJsonString(key)}: ${dumpsLikePython(item)}`,
  );
  return `{${members.join(", ")}}`;
}

function asciiJsonString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// ---------------------------------------------------------------------------------------------
// small shared pieces

function textResponse(contentType: string, text: string): NotebookResponse {
  return { contentType, body: Buffer.from(text, "utf8") };
}

function problem(ename: string, evalue: string): Problem {
  return { ename, evalue };
}

/** nbformat multi-line text (a string or an array of lines) as one string. */
function joinText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((line) => typeof line === "string")) return value.join("");
  return undefined;
}

/** Python's truthiness for a JSON value (Naas tests `if data.get(mime)`). */
function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isRecord(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
