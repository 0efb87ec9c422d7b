/**
 * @module Finds what an executed notebook chose to answer (DESIGN.md, "Response").
 *
 * Two forms count, checked output by output in cell order; the first response wins:
 * - nbhook's: a `display_data`/`execute_result` whose bundle holds {@link RESPONSE_MIME},
 *   displayed by the in-kernel helper (`python/nbhook/webhook.py`). Either the answer is inline
 *   (`{content_type, data, encoding, filename?, status?, headers?, kind?, render?}`; with
 *   `render: "text/html"`, Markdown `data` is rendered here and answered as text/html), or it is
 *   a file (`{content_type, file, size, filename?, status?, headers?}`): a copy the helper made
 *   for this answer alone in its own `nbhook-answer-*` folder, which the server streams and then
 *   removes;
 * - Naas's: an output whose metadata carries `naas_api: true` (top level, or under a MIME key as
 *   IPython stores it), written by the real Naas library. It is mapped the way the Naas runner
 *   did (naas-reference.md §4), minus its bugs: respond_file is read as bytes (or copied to be
 *   streamed, given an answer folder), a GIF works (also when IPython filed it under image/png:
 *   an image's type is taken from its first bytes).
 *
 * A response that is there but broken (an invalid nbhook bundle, a Naas respond_file whose file
 * cannot be read, an answer over the limits) is not skipped silently: it is found as a
 * {@link BrokenResponse}, which fails the run with its error, so the caller sees what went wrong.
 * Answer files nobody will send (those of later responses, or of a broken one) are removed.
 */
import {
  constants,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { coerceError } from "../errors.js";
import { renderMarkdown } from "./markdown.js";
import { formatSize, heldResponseOf } from "./outputs.js";
import {
  DEFAULT_MAX_ANSWER_BYTES,
  MAX_INLINE_ANSWER_BYTES,
  RESPONSE_MIME,
  type AnswerFile,
  type AnswerLimits,
  type BrokenResponse,
  type Cell,
  type NotebookResponse,
  type Output,
} from "./types.js";

export interface FindResponseOptions extends Pick<AnswerLimits, "maxAnswerBytes" | "answerDir"> {
  /**
   * Folder a relative Naas respond_file path is resolved against: the kernel's working
   * directory. Naas writes absolute paths, so this rarely matters.
   * @default process.cwd()
   */
  baseDir?: string;
}

/** The name of every answer file's own folder starts with this (the helper's `tempfile.mkdtemp`). */
export const ANSWER_FOLDER_PREFIX = "nbhook-answer-";

/**
 * Where answer files go when the server names no folder: one per user in the system's temporary
 * folder (the kernel's NBHOOK_ANSWER_DIR; the helper creates it, mode 0700).
 */
export function defaultAnswerDir(): string {
  return path.join(os.tmpdir(), `nbhook-answers-${process.getuid?.() ?? "user"}`);
}

/**
 * The folder to remove with an answer file (its own `nbhook-answer-*` folder), or `undefined` for a
 * path that is not shaped like one: nothing else is ever removed.
 */
export function answerFolderOf(filePath: string): string | undefined {
  if (!path.isAbsolute(filePath)) return undefined;
  const folder = path.dirname(path.normalize(filePath));
  return path.basename(folder).startsWith(ANSWER_FOLDER_PREFIX) && folder !== path.dirname(folder)
    ? folder
    : undefined;
}

/** Removes an answer file and its folder (nothing when the path is not an answer file's). */
export function removeAnswerFileSync(filePath: string): void {
  const folder = answerFolderOf(filePath);
  if (folder) rmSync(folder, { recursive: true, force: true });
}

/**
 * The answer files the outputs of `cells` refer to (file bundles), but `keep`'s. For a run that
 * will not send them (it failed, or they lost to an earlier response): remove each with
 * {@link removeAnswerFileSync}.
 */
export function answerFilesIn(cells: Cell[], keep?: AnswerFile): string[] {
  const files: string[] = [];
  for (const cell of cells) {
    if (cell.cell_type !== "code" || !Array.isArray(cell.outputs)) continue;
    for (const output of cell.outputs as Output[]) {
      const data = isRecord(output.data) ? output.data : undefined;
      const bundle = data?.[RESPONSE_MIME];
      if (isRecord(bundle) && typeof bundle.file === "string" && bundle.file !== keep?.path) {
        files.push(bundle.file);
      }
    }
  }
  return files;
}

/** Removes every answer file the outputs of `cells` refer to, but `keep`'s. */
export function discardAnswerFiles(cells: Cell[], keep?: AnswerFile): void {
  for (const file of answerFilesIn(cells, keep)) removeAnswerFileSync(file);
}

/**
 * The notebook's response: the first response output in cell order, or `undefined`. The answer
 * files of the other responses are removed (they would never be sent), and so is a broken
 * response's.
 */
export function findResponse(
  cells: Cell[],
  options: FindResponseOptions = {},
): NotebookResponse | BrokenResponse | undefined {
  const found = firstResponse(cells, options);
  discardAnswerFiles(cells, found?.kind === "broken" ? undefined : found?.file);
  return found;
}

function firstResponse(
  cells: Cell[],
  options: FindResponseOptions,
): NotebookResponse | BrokenResponse | undefined {
  const context: Context = {
    baseDir: options.baseDir ?? process.cwd(),
    maxAnswerBytes: options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
    answerDir: options.answerDir,
    where: "",
  };
  for (const [cellIndex, cell] of cells.entries()) {
    if (cell.cell_type !== "code" || !Array.isArray(cell.outputs)) continue;
    for (const [outputIndex, output] of (cell.outputs as Output[]).entries()) {
      const where = `cell ${cellIndex + 1}, output ${outputIndex + 1}`;
      const response = responseOf(output, { ...context, where });
      if (response && "ename" in response) return { kind: "broken", ...response, cellIndex };
      if (response) return response;
    }
  }
  return undefined;
}

/** What reading one output needs. */
interface Context {
  baseDir: string;
  maxAnswerBytes: number;
  answerDir: string | undefined;
  /** "cell 2, output 1", for messages. */
  where: string;
}

type MimeData = Record<string, unknown>;

/** A response found but unusable: why, for the run's error. */
interface Problem {
  ename: string;
  evalue: string;
}

function responseOf(output: Output, context: Context): NotebookResponse | Problem | undefined {
  if (output.output_type !== "display_data" && output.output_type !== "execute_result") return undefined;
  const data = isRecord(output.data) ? output.data : {};
  if (RESPONSE_MIME in data) return decodeBundle(heldResponseOf(output) ?? data[RESPONSE_MIME], context);
  const naasType = naasMarker(output.metadata);
  if (naasType === undefined) return undefined;
  return naasResponse(data, naasType, context);
}

// ---------------------------------------------------------------------------------------------
// nbhook's response bundle

/** What every form of the bundle has: how the answer is sent. */
const answerFields = {
  content_type: z.string().min(1),
  filename: z.string().min(1).optional(),
  status: z.int().min(200).max(599).optional(),
  headers: z.record(z.string(), z.string()).optional(),
};

/**
 * The answer inside the bundle.
 *
 * `render: "text/html"` with `content_type: "text/markdown"`: respond_markdown. The helpers send
 * the Markdown itself and the server renders it (./markdown.ts, nbhook's one renderer, the same
 * for every kernel language and for Markdown in rendered notebooks), answering text/html as
 * Naas did. A field of its own rather than a new `kind`, because `content_type` then still says
 * truly what `data` is, and a server that predates it (zod drops the unknown key) answers the
 * Markdown as text/markdown instead of failing or calling Markdown HTML; a bundle without it
 * (the HTML older helpers rendered, or `respond(text, "text/markdown")`) is answered as it is.
 */
const inlineSchema = z
  .object({
    ...answerFields,
    data: z.string(),
    encoding: z.enum(["utf-8", "base64"]),
    kind: z.literal("notebook").optional(),
    render: z.literal("text/html").optional(),
  })
  .refine((bundle) => bundle.render === undefined || mediaType(bundle.content_type) === "text/markdown", {
    error: 'render: "text/html" needs content_type "text/markdown"',
    path: ["render"],
  });

/** The answer in a file the helper copied for it (respond_file on a server). */
const fileSchema = z.object({
  ...answerFields,
  file: z.string().refine((file) => answerFolderOf(file) !== undefined, {
    error: `must be an absolute path inside a folder named ${ANSWER_FOLDER_PREFIX}…`,
  }),
  size: z.int().min(0),
});

/**
 * What the saved notebook keeps of an inline bundle over --max-output (outputs.ts): no data, only
 * how much there was. Found in a run that did not hold the whole bundle, it cannot be answered.
 */
const omittedSchema = z.object({ ...answerFields, omitted: z.int().min(0) });

function decodeBundle(raw: unknown, context: Context): NotebookResponse | Problem {
  const { where } = context;
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
  if (isRecord(value) && "file" in value) return fileBundle(value, context);
  if (isRecord(value) && "omitted" in value && !("data" in value)) {
    const omitted = omittedSchema.safeParse(value);
    if (!omitted.success) return invalid(where, omitted.error);
    return problem(
      "InvalidResponse",
      `the response in ${where} (${formatSize(omitted.data.omitted)}) is not kept in this notebook: ` +
        "answer large results with respond_file(path)",
    );
  }
  const parsed = inlineSchema.safeParse(value);
  if (!parsed.success) return invalid(where, parsed.error);
  const bundle = parsed.data;
  const encoding = bundle.encoding === "base64" ? "base64" : "utf8";
  // Measured before decoding: a bundle over the limit is not copied once more to be refused.
  const size = Buffer.byteLength(bundle.data, encoding);
  const limit = Math.min(MAX_INLINE_ANSWER_BYTES, context.maxAnswerBytes);
  if (size > limit) {
    return problem(
      "AnswerTooLarge",
      `the response in ${where} is ${formatSize(size)}, more than an answer given inline may be ` +
        `(${formatSize(limit)}): answer large results with respond_file(path), which sends the file from disk`,
    );
  }
  const response: NotebookResponse = {
    contentType: bundle.content_type,
    body: Buffer.from(bundle.data, encoding),
  };
  if (bundle.render !== undefined) {
    response.contentType = bundle.render;
    response.body = Buffer.from(renderMarkdown(response.body.toString("utf8")), "utf8");
    const rendered = response.body.length;
    if (rendered > limit) {
      return problem(
        "AnswerTooLarge",
        `the response in ${where} is ${formatSize(rendered)} once rendered to HTML, more than an answer given ` +
          `inline may be (${formatSize(limit)}): answer large results with respond_file(path)`,
      );
    }
  }
  return withAnswerFields(response, bundle, bundle.kind);
}

/** `text/markdown` for `Text/Markdown; charset=utf-8`. */
function mediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/** A file bundle: the helper's copy, checked to be there and within --max-answer. */
function fileBundle(value: Record<string, unknown>, context: Context): NotebookResponse | Problem {
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) return invalid(context.where, parsed.error);
  const bundle = parsed.data;
  let size: number;
  try {
    const stat = lstatSync(bundle.file);
    if (!stat.isFile()) throw new Error("not a regular file");
    size = stat.size;
  } catch (error) {
    return problem(
      "InvalidResponse",
      `the answer file of the response in ${context.where} cannot be read (${bundle.file}): ${coerceError(error).message}`,
    );
  }
  const tooLarge = overLimit(size, context, `the answer file of the response in ${context.where}`);
  if (tooLarge) return tooLarge;
  const response: NotebookResponse = {
    contentType: bundle.content_type,
    body: Buffer.alloc(0),
    file: { path: bundle.file, size },
  };
  return withAnswerFields(response, bundle);
}

/** AnswerTooLarge when `size` is over --max-answer. */
function overLimit(size: number, context: Context, what: string): Problem | undefined {
  if (size <= context.maxAnswerBytes) return undefined;
  return problem(
    "AnswerTooLarge",
    `${what} is ${formatSize(size)}, more than the server's limit of ${formatSize(context.maxAnswerBytes)} per answer (--max-answer)`,
  );
}

function withAnswerFields(
  response: NotebookResponse,
  bundle: { filename?: string; status?: number; headers?: Record<string, string> },
  kind?: "notebook",
): NotebookResponse {
  if (bundle.filename !== undefined) response.filename = bundle.filename;
  if (bundle.status !== undefined) response.status = bundle.status;
  if (bundle.headers !== undefined) response.headers = bundle.headers;
  if (kind !== undefined) response.kind = kind;
  return response;
}

function invalid(where: string, error: z.ZodError): Problem {
  const why = z.prettifyError(error).replace(/\s*\n\s*/g, " ");
  return problem("InvalidResponse", `the response in ${where} is invalid: ${why}`);
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
  context: Context,
): NotebookResponse | Problem | undefined {
  if (naasType === "notebook") return { contentType: "text/html", body: Buffer.alloc(0), kind: "notebook" };
  const json = data["application/json"];
  if (isTruthy(json) && naasType && isRecord(json) && typeof json.path === "string") {
    return naasFile(path.resolve(context.baseDir, json.path), naasType, context);
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

/**
 * respond_file: `{"path": abspath}` with the file's MIME type as naas_type. Given an answer folder
 * (a server), the file is copied there to be streamed: the notebook's own file may change or go
 * (uploads are removed after the run, a reused kernel runs the next call in the same folder).
 * Without one (`nbhook run`), it is read as bytes.
 */
function naasFile(filePath: string, contentType: string, context: Context): NotebookResponse | Problem {
  const filename = path.basename(filePath);
  try {
    const tooLarge = overLimit(statSync(filePath).size, context, `respond_file's ${filePath}`);
    if (tooLarge) return tooLarge;
    if (context.answerDir === undefined) return { contentType, body: readFileSync(filePath), filename };
    return { contentType, body: Buffer.alloc(0), file: copyForAnswer(filePath, context.answerDir), filename };
  } catch (error) {
    const ename = (error as NodeJS.ErrnoException).code === "ENOENT" ? "FileNotFoundError" : "OSError";
    return problem(ename, `respond_file: cannot read ${filePath}: ${coerceError(error).message}`);
  }
}

/**
 * A copy of `filePath` in a new answer folder under `answerDir`. copyFileSync copies in the
 * kernel (copy_file_range, or a reflink where the file system has them): the bytes never pass
 * through this process's memory.
 */
function copyForAnswer(filePath: string, answerDir: string): AnswerFile {
  mkdirSync(answerDir, { recursive: true, mode: 0o700 });
  const folder = mkdtempSync(path.join(answerDir, ANSWER_FOLDER_PREFIX));
  const copy = path.join(folder, "answer");
  try {
    copyFileSync(filePath, copy, constants.COPYFILE_FICLONE);
    return { path: copy, size: lstatSync(copy).size };
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
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
