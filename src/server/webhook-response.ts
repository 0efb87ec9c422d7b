/**
 * @module The HTTP answer to a webhook call, from the run's outcome (DESIGN.md, "Response").
 *
 * - A failed run: JSON `{"id", "status", "ename", "evalue", "traceback"}` (ANSI stripped), 500 for
 *   an error (`status: "error"`) or a dead kernel (`"died"`), 504 for a timeout (`"timeout"`).
 * - `next_url` (add-time; absolute http/https only) after a successful run: 302 to it, the
 *   notebook's response unused (as Naas did).
 * - The notebook's response (first respond_* output): its bytes; its content type, with
 *   `; charset=utf-8` added to text types when they name no charset; its status (default 200);
 *   its headers, except those only the server may set (see {@link REFUSED_HEADERS}); and, for a
 *   2xx answer unless the webhook is `inline`, `Content-Disposition: attachment` with a filename.
 * - No response: 200 `{"id", "status": "ok", "time": <seconds>}`.
 * Every answer carries `X-Nbhook-Run-Id`, `Cache-Control: no-store` and `X-Content-Type-Options:
 * nosniff` (a notebook may set its own Cache-Control).
 */
import { validateHeaderName, validateHeaderValue } from "node:http";
import { stripAnsi } from "../notebook/ansi.js";
import type { NotebookResponse } from "../notebook/types.js";
import type { RunError, RunStatus } from "../runs/execute-notebook.js";

export interface TriggerAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Notebook headers that were dropped, for the log. */
  refusedHeaders?: string[];
}

export interface AnswerInput {
  runId: string;
  status: RunStatus;
  durationMs: number;
  error?: RunError;
  response?: NotebookResponse;
  timings?: { kernelMs: number; cellsMs: number };
  /** The notebook's file name (`report.ipynb`), for the download name. */
  notebookName: string;
  /** The webhook's add-time params (`inline`, `next_url`). */
  params: Record<string, unknown>;
}

/**
 * Headers a notebook cannot set: hop-by-hop and framing headers (the server frames the answer),
 * Content-Type (set from the response's content type), cookies (every webhook shares the server's
 * origin, and request cookies are redacted before the kernel sees them), and nbhook's own.
 */
const REFUSED_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "content-type",
  "host",
  "date",
  "set-cookie",
  "set-cookie2",
]);

const ERROR_STATUS: Record<Exclude<RunStatus, "ok">, number> = { error: 500, died: 500, timeout: 504 };

export function webhookAnswer(input: AnswerInput): TriggerAnswer {
  const base: Record<string, string> = {
    "x-nbhook-run-id": input.runId,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (input.timings) {
    // Where the time went, for callers and the benchmark: the kernel's part, the rest is ours.
    const { kernelMs, cellsMs } = input.timings;
    base["server-timing"] = `kernel;dur=${kernelMs.toFixed(1)}, cells;dur=${cellsMs.toFixed(1)}, run;dur=${input.durationMs}`;
  }
  if (input.status !== "ok") {
    const error = input.error ?? { ename: "Error", evalue: "the run failed", traceback: [] };
    return json(ERROR_STATUS[input.status], base, {
      id: input.runId,
      status: input.status,
      ename: error.ename,
      evalue: stripAnsi(error.evalue),
      traceback: cleanTraceback(error.traceback),
    });
  }
  const nextUrl = redirectTarget(input.params.next_url);
  if (nextUrl) {
    return { status: 302, headers: { ...base, location: nextUrl }, body: Buffer.alloc(0) };
  }
  const response = input.response;
  if (!response) {
    return json(200, base, { id: input.runId, status: "ok", time: input.durationMs / 1000 });
  }
  const status = response.status ?? 200;
  const headers: Record<string, string> = { ...base, "content-type": withCharset(response.contentType) };
  if (status >= 200 && status < 300 && !isTruthy(input.params.inline)) {
    headers["content-disposition"] = attachment(downloadName(response, input.notebookName));
  }
  const refused: string[] = [];
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    const lower = name.toLowerCase();
    if (REFUSED_HEADERS.has(lower) || lower.startsWith("x-nbhook-") || !isValidHeader(name, value)) {
      refused.push(name);
      continue;
    }
    headers[lower] = value;
  }
  const answer: TriggerAnswer = { status, headers, body: response.body };
  if (refused.length) answer.refusedHeaders = refused;
  return answer;
}

/** The traceback as lines without ANSI colours. */
export function cleanTraceback(traceback: readonly string[]): string[] {
  return traceback.map((line) => stripAnsi(line));
}

/** `next_url` when it is an absolute http(s) URL; anything else is ignored. */
export function redirectTarget(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Text types named without a charset get `; charset=utf-8` (the helpers send UTF-8). */
export function withCharset(contentType: string): string {
  const [mime = ""] = contentType.split(";");
  const type = mime.trim().toLowerCase();
  const isText =
    type.startsWith("text/") ||
    type === "application/json" ||
    type.endsWith("+json") ||
    type === "application/xml" ||
    type.endsWith("+xml") ||
    type === "application/javascript";
  return isText && !/;\s*charset=/i.test(contentType) ? `${contentType}; charset=utf-8` : contentType;
}

const EXTENSIONS: Record<string, string> = {
  "application/json": ".json",
  "text/html": ".html",
  "text/plain": ".txt",
  "text/csv": ".csv",
  "image/svg+xml": ".svg",
  "image/png": ".png",
  "image/jpeg": ".jpg",
  "image/gif": ".gif",
  "text/markdown": ".md",
};

/** The response's filename, else the notebook's name up to its first dot + the type's extension. */
export function downloadName(
  response: Pick<NotebookResponse, "filename" | "contentType">,
  notebookName: string,
): string {
  if (response.filename) return response.filename;
  const stem = notebookName.split(".")[0] || "response";
  const type = (response.contentType.split(";")[0] ?? "").trim().toLowerCase();
  return stem + (EXTENSIONS[type] ?? ".bin");
}

/**
 * `attachment; filename="…"`, plus RFC 6266 / RFC 8187 `filename*=UTF-8''…` when the name is not
 * plain ASCII (the quoted form then carries an ASCII stand-in).
 */
export function attachment(filename: string): string {
  // eslint-disable-next-line no-control-regex -- control characters cannot go in a header
  const name = filename.replace(/[\u0000-\u001f\u007f]/g, "");
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  if (ascii === name) return `attachment; filename="${name}"`;
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** `inline` as Naas read it (a truthy add-time param), minus Python's "false" is truthy. */
function isTruthy(value: unknown): boolean {
  if (typeof value === "string") return ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
  return value === true || (typeof value === "number" && value !== 0);
}

function isValidHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

function json(status: number, base: Record<string, string>, value: unknown): TriggerAnswer {
  return {
    status,
    headers: { ...base, "content-type": "application/json; charset=utf-8" },
    body: Buffer.from(JSON.stringify(value), "utf8"),
  };
}
