/**
 * @module The answer to a webhook call, from its outcome (DESIGN.md, "Response"). runs/ is given
 * `answerFor` at start-up: it records the answer's status and keeps the answer for pollers.
 *
 * - A failed run: JSON `{"error", "message", "id", "status", "ename", "evalue", "traceback"}`
 *   (ANSI stripped); the status comes from http-errors.ts (500 for an error or a dead kernel, 504
 *   for a timeout).
 * - A call that left the queue: 503 `{"error": "busy", "message"}` with Retry-After.
 * - A call nbhook itself failed (the store): 500 `{"error": "internal", "message", "id"}`.
 * - `next_url` (add-time; absolute http/https only) after a successful run: 302 to it, the
 *   notebook's response unused (as Naas did).
 * - The notebook's response (first respond_* output): its bytes (or its file, to be streamed); its content type, with
 *   `; charset=utf-8` added to text types when they name no charset; its status (default 200);
 *   its headers, except those only the server may set (see {@link REFUSED_HEADERS}); and, for a
 *   2xx answer unless the webhook is `inline`, `Content-Disposition: attachment` with a filename.
 * - No response: 200 `{"id", "status": "Done", "time": <seconds>}`, what Naas answers (the run record
 *   keeps its own status, `ok`).
 * Every answer carries `X-Nbhook-Run-Id`, `Cache-Control: no-store`, `X-Content-Type-Options:
 * nosniff` (a notebook may set its own Cache-Control), {@link ANSWER_CSP}, and a run's answer
 * `Server-Timing`.
 */
import { validateHeaderName, validateHeaderValue } from "node:http";
import type { DoneAnswerJson } from "../api/schemas.js";
import { AppError } from "../errors.js";
import { stripAnsi } from "../notebook/ansi.js";
import type { NotebookResponse } from "../notebook/types.js";
import type { CallAnswer, CallOutcome } from "../runs/index.js";
import type { Webhook } from "../store/index.js";
import { CALLER_GONE_STATUS, errorBody, errorHeaders, RUN_FAILURE_CODE, statusOf } from "./http-errors.js";

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

/**
 * The policy of every webhook answer: a page a notebook answers runs its scripts, forms and
 * downloads, but in a sandbox without this server's origin. Webhooks share the origin of the
 * dashboard and the API: without the sandbox, a notebook's HTML opened by a signed-in user could
 * read `GET /api/session` and act with the session. A notebook that sets its own policy adds it
 * (both are enforced); it cannot lift the sandbox.
 */
export const ANSWER_CSP =
  "sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals";

export function answerFor(outcome: CallOutcome, webhook: Webhook): CallAnswer {
  const base: Record<string, string> = {
    "x-nbhook-run-id": outcome.runId,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": ANSWER_CSP,
  };
  if (outcome.kind === "cancelled") {
    const err = new AppError("busy", `${outcome.message}: try again in ${outcome.retryAfterS} s`, {
      retryAfterS: outcome.retryAfterS,
    });
    const answer = json(statusOf(err.code), { ...base, ...errorHeaders(err) }, errorBody(err));
    return outcome.reason === "caller-gone" ? { ...answer, status: CALLER_GONE_STATUS } : answer;
  }
  if (outcome.kind === "failed") {
    // A full disk is the operator's to fix, and the caller may try again once it is: say so (507).
    if (outcome.unreachable) {
      // The database went away while the call was waited for (a cluster): the call may still end.
      const err = new AppError("busy", `${outcome.message}: try again in 5 s`, { retryAfterS: 5 });
      return json(
        statusOf(err.code),
        { ...base, ...errorHeaders(err) },
        { ...errorBody(err), id: outcome.runId },
      );
    }
    const err = outcome.storage
      ? new AppError(
          "insufficient-storage",
          `${outcome.message} (run ${outcome.runId}): the server's disk must be freed; try again later`,
        )
      : new AppError(
          "internal",
          `nbhook failed while running the call: see the server log (run ${outcome.runId})`,
        );
    return json(statusOf(err.code), base, { ...errorBody(err), id: outcome.runId });
  }
  if (outcome.timings) {
    // Where the time went, for callers and the benchmark: the kernel's part, the rest is ours.
    const { kernelMs, cellsMs } = outcome.timings;
    base["server-timing"] =
      `kernel;dur=${kernelMs.toFixed(1)}, cells;dur=${cellsMs.toFixed(1)}, run;dur=${outcome.durationMs}`;
  }
  if (outcome.status !== "ok") {
    const error = outcome.error ?? { ename: "Error", evalue: "the run failed", traceback: [] };
    const evalue = stripAnsi(error.evalue);
    const err = new AppError(
      RUN_FAILURE_CODE[outcome.status],
      failureMessage(outcome.status, error.ename, evalue, error.cellIndex),
    );
    return json(statusOf(err.code), base, {
      ...errorBody(err),
      id: outcome.runId,
      status: outcome.status,
      ename: error.ename,
      evalue,
      traceback: cleanTraceback(error.traceback),
    });
  }
  const nextUrl = redirectTarget(webhook.params.next_url);
  if (nextUrl) {
    return { status: 302, headers: { ...base, location: nextUrl }, body: Buffer.alloc(0) };
  }
  const response = outcome.response;
  if (!response) {
    const done: DoneAnswerJson = { id: outcome.runId, status: "Done", time: outcome.durationMs / 1000 };
    return json(200, base, done);
  }
  const status = response.status ?? 200;
  const headers: Record<string, string> = { ...base, "content-type": withCharset(response.contentType) };
  if (status >= 200 && status < 300 && !isTruthy(webhook.params.inline)) {
    headers["content-disposition"] = attachment(downloadName(response, webhook.fileName));
  }
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    const lower = name.toLowerCase();
    if (REFUSED_HEADERS.has(lower) || lower.startsWith("x-nbhook-") || !isValidHeader(name, value)) {
      dropped.push(name);
      continue;
    }
    // Two policies in one header, comma-separated: the browser enforces both.
    headers[lower] = lower === "content-security-policy" ? `${ANSWER_CSP}, ${value}` : value;
  }
  const answer: CallAnswer = { status, headers, body: response.body };
  // A respond_file answer stays in its file: deliver-call.ts streams it, with its length.
  if (response.file) answer.file = response.file;
  if (dropped.length) answer.droppedHeaders = dropped;
  return answer;
}

/** What a failed run's message says: where it failed and why. */
function failureMessage(
  status: "error" | "timeout" | "died",
  ename: string,
  evalue: string,
  cellIndex?: number,
): string {
  // Counted in the executed notebook (the one saved), which has the injected parameters cell.
  const where = cellIndex === undefined ? "" : ` in cell ${cellIndex + 1} of the executed notebook`;
  switch (status) {
    case "timeout":
      return `the run timed out${where} (${evalue}): give the webhook a longer time limit (\`nbhook add --timeout SECONDS\`) or make the notebook faster`;
    case "died":
      return `the kernel died${where}: ${evalue}`;
    case "error":
      return `the run failed${where}: ${ename}${evalue ? `: ${evalue}` : ""}`;
  }
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

function json(status: number, base: Record<string, string>, value: unknown): CallAnswer {
  return {
    status,
    headers: { ...base, "content-type": "application/json; charset=utf-8" },
    body: Buffer.from(JSON.stringify(value), "utf8"),
  };
}
