/**
 * @module A webhook request as parameters' raw material (runs/webhook-parameters.ts RequestInput):
 * the query string, the headers, and the body by content type:
 * - `application/json`: parsed keeping ints apart from floats (parseJsonParameters); malformed → 400;
 *   an empty body counts as none;
 * - `application/x-www-form-urlencoded`: fields, each key's last value;
 * - `multipart/form-data`: fields as values; files streamed to the run's uploads folder, passed as
 *   absolute paths (a field with several files: a list of paths);
 * - anything else: the body as UTF-8 text (Naas's `{"str": …}`).
 * Bodies over the limit are 413 for every kind, multipart included (counted across all parts).
 *
 * Errors are AppErrors ("bad-request", "body-too-large") for http-errors.ts to answer.
 */
import { createWriteStream } from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";
import { parseJsonParameters } from "../notebook/parameters/index.js";
import type { RequestBody, RequestInput } from "../runs/index.js";

export function bodyTooLarge(limit: number): AppError {
  return new AppError(
    "body-too-large",
    `the request body is larger than the limit (over ${limit} bytes): send less, or start the server with a larger --max-body`,
  );
}

/**
 * Body parsers for the trigger route's scope only (call inside an encapsulated plugin): the app's
 * JSON, form and text parsers are replaced, a catch-all added; the multipart parser is kept (the body
 * is read in the handler, once the webhook is known).
 */
export function registerBodyParsers(scope: FastifyInstance, bodyLimit: number): void {
  scope.removeContentTypeParser(["application/json", "application/x-www-form-urlencoded", "text/plain"]);
  scope.addContentTypeParser("application/json", { parseAs: "string", bodyLimit }, (_request, text, done) => {
    if (String(text).trim() === "") return done(null, { kind: "none" } satisfies RequestBody);
    try {
      done(null, {
        kind: "json",
        value: parseJsonParameters(String(text), "the request body"),
      } satisfies RequestBody);
    } catch (err) {
      done(
        new AppError(
          "bad-request",
          err instanceof AppError ? err.message : "the request body is not valid JSON",
        ),
        undefined,
      );
    }
  });
  scope.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string", bodyLimit },
    (_request, text, done) => {
      done(null, {
        kind: "form",
        fields: lastValues(new URLSearchParams(String(text))),
      } satisfies RequestBody);
    },
  );
  scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (_request, bytes, done) => {
    done(null, { kind: "text", text: Buffer.from(bytes).toString("utf8") } satisfies RequestBody);
  });
}

/** The query string of `url`, each key's last value. */
export function queryOf(url: string): Record<string, string> {
  const at = url.indexOf("?");
  return at < 0 ? {} : lastValues(new URLSearchParams(url.slice(at + 1)));
}

/** Header names lower-cased, each header's first value (as Naas kept them). */
export function headersOf(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(request.raw.headersDistinct)) {
    const first = values?.[0];
    if (first !== undefined) setOwn(out, name.toLowerCase(), first);
  }
  return out;
}

export interface ReadInputOptions {
  maxBodyBytes: number;
  /** The folder for this call's uploaded files, created on the first file. */
  uploadsDir: () => Promise<string>;
}

/** The whole input of a trigger request; reads a multipart body (saving its files). */
export async function readRequestInput(
  request: FastifyRequest,
  options: ReadInputOptions,
): Promise<RequestInput> {
  const input: RequestInput = {
    query: queryOf(request.url),
    headers: headersOf(request),
    body: { kind: "none" },
  };
  if (request.isMultipart()) {
    input.body = await readMultipart(request, options);
  } else if (isRequestBody(request.body)) {
    input.body = request.body;
  } else if (typeof request.body === "string" || Buffer.isBuffer(request.body)) {
    input.body = { kind: "text", text: request.body.toString() }; // a parser registered elsewhere
  }
  return input;
}

/** Whether a multipart request announces more than the limit (checked before reading it). */
export function announcesTooMuch(request: FastifyRequest, limit: number): boolean {
  const length = Number(request.headers["content-length"]);
  return Number.isFinite(length) && length > limit;
}

async function readMultipart(request: FastifyRequest, options: ReadInputOptions): Promise<RequestBody> {
  try {
    return await readParts(request, options);
  } catch (err) {
    throw unreadableMultipart(err);
  }
}

/**
 * The parser's own complaints (busboy: "Unexpected end of multipart data", "Boundary not found")
 * are the caller's mistake: 400. Ours (AppError), the plugin's limits (with a statusCode) and
 * system errors (with an errno) keep their meaning.
 */
function unreadableMultipart(err: unknown): unknown {
  if (err instanceof AppError || !(err instanceof Error)) return err;
  if ("statusCode" in err || "errno" in err) return err;
  return new AppError(
    "bad-request",
    `the multipart body cannot be read (${err.message}): send a complete multipart/form-data body with its boundary`,
    { cause: err },
  );
}

async function readParts(request: FastifyRequest, options: ReadInputOptions): Promise<RequestBody> {
  const limit = options.maxBodyBytes;
  const fields: Record<string, string> = {};
  const files: Record<string, string | string[]> = {};
  const taken = new Set<string>();
  let total = 0;
  const count = (n: number) => {
    total += n;
    if (total > limit) throw bodyTooLarge(limit);
  };
  let dir: string | undefined;
  const parts = request.parts({
    limits: { fieldSize: limit, fileSize: limit, files: 50, fields: 500, parts: 550 },
  });
  for await (const part of parts) {
    if (part.type === "field") {
      if (part.valueTruncated) throw bodyTooLarge(limit);
      const value = typeof part.value === "string" ? part.value : JSON.stringify(part.value);
      count(Buffer.byteLength(value));
      setOwn(fields, part.fieldname, value);
      continue;
    }
    if (!part.filename) {
      part.file.resume(); // a file input left empty in an HTML form
      continue;
    }
    dir ??= await options.uploadsDir();
    const target = path.join(dir, uniqueName(safeFileName(part.filename), taken));
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          count(chunk.length);
          callback(null, chunk);
        } catch (err) {
          callback(err as Error);
        }
      },
    });
    await pipeline(part.file, counter, createWriteStream(target));
    if (part.file.truncated) throw bodyTooLarge(limit);
    const previous = files[part.fieldname];
    setOwn(files, part.fieldname, previous === undefined ? target : [previous, target].flat());
  }
  return { kind: "multipart", fields, files };
}

/** A client's file name reduced to a safe base name (no folders, no control characters). */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const visible = base.replace(/[\u0000-\u001f\u007f]/g, "");
  const cleaned = visible.replace(/^\.+/, "").trim();
  return (cleaned || "upload").slice(0, 200);
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let i = 2; taken.has(candidate); i++) {
    const ext = path.extname(name);
    candidate = `${name.slice(0, name.length - ext.length)}-${i}${ext}`;
  }
  taken.add(candidate);
  return candidate;
}

function lastValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) setOwn(out, key, value);
  return out;
}

function isRequestBody(value: unknown): value is RequestBody {
  return (
    typeof value === "object" && value !== null && typeof (value as { kind?: unknown }).kind === "string"
  );
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
