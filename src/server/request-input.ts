/**
 * @module A webhook request as parameters' raw material (runs/webhook-parameters.ts RequestInput):
 * the query string, the headers, and the body by content type:
 * - `application/json`: parsed keeping ints apart from floats (parseJsonParameters); malformed → 400;
 *   nested deeper than the limit or an int of too many digits → 422 naming the parameter
 *   (`body.deep`); an empty body counts as none;
 * - `application/x-www-form-urlencoded`: fields, each key's last value;
 * - `multipart/form-data`: fields as values; files streamed to the run's uploads folder under a safe
 *   name (a base name of at most 240 UTF-8 bytes), passed as absolute paths (a field with several
 *   files: a list of paths);
 * - anything else: the body as UTF-8 text (Naas's `{"str": …}`).
 * Bodies over the limit are 413 for every kind, multipart included (counted across all parts).
 * Bodies read as text (all but multipart) and the query string must be UTF-8, percent-escapes
 * included: anything else is a 400, never text silently changed to U+FFFD.
 *
 * Errors are AppErrors ("bad-request", "body-too-large", "parameter-invalid") for http-errors.ts
 * to answer.
 */
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";
import { ParameterLimitError, parseJsonParameters } from "../notebook/parameters/index.js";
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
  const parser = (read: (text: string) => RequestBody) => (_request: unknown, bytes: Buffer, done: Done) => {
    try {
      done(null, read(utf8Body(bytes)));
    } catch (err) {
      done(err as Error, undefined);
    }
  };
  scope.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit }, parser(jsonBody));
  scope.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "buffer", bodyLimit },
    parser((text) => ({ kind: "form", fields: parseUrlEncoded(text, "the form body") })),
  );
  scope.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit },
    parser((text) => ({ kind: "text", text })),
  );
}

type Done = (err: Error | null, body?: RequestBody) => void;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text; bytes that are not UTF-8 are the caller's mistake (400), not U+FFFD. */
function utf8Body(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new AppError(
      "bad-request",
      "the request body is not valid UTF-8: send text (JSON, forms, plain text) encoded as UTF-8, " +
        "and binary data as a file in a multipart/form-data body",
    );
  }
}

/** A JSON body: malformed is 400; over the limits of notebook/parameters/limits.ts, 422. */
function jsonBody(text: string): RequestBody {
  if (text.trim() === "") return { kind: "none" };
  try {
    return { kind: "json", value: parseJsonParameters(text, "the request body", { name: "body" }) };
  } catch (err) {
    if (err instanceof ParameterLimitError) throw err;
    throw new AppError(
      "bad-request",
      err instanceof AppError ? err.message : "the request body is not valid JSON",
      { cause: err },
    );
  }
}

/** The query string of `url`, each key's last value. Percent-escapes that are not UTF-8: 400. */
export function queryOf(url: string): Record<string, string> {
  const at = url.indexOf("?");
  return at < 0 ? {} : parseUrlEncoded(url.slice(at + 1), "the query string");
}

/**
 * `application/x-www-form-urlencoded` text (a query string, a form body) as URLSearchParams reads
 * it (`&`-separated, `+` is a space, each key's last value), except that percent-escapes which do
 * not decode to UTF-8 (`%FF`) are a 400 naming `what`, where URLSearchParams writes U+FFFD.
 * Written by hand for that one difference: neither URLSearchParams nor `querystring` can refuse.
 */
export function parseUrlEncoded(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    setOwn(out, decodeComponent(name, what), decodeComponent(value, what));
  }
  return out;
}

function decodeComponent(raw: string, what: string): string {
  const text = raw.replaceAll("+", " ");
  if (!text.includes("%")) return text;
  try {
    return UTF8.decode(percentDecoded(text));
  } catch {
    throw new AppError(
      "bad-request",
      `${what} is not valid UTF-8 once percent-decoded (such as %FF): percent-encode the UTF-8 bytes ` +
        `of the text (é is %C3%A9), as encodeURIComponent and URLSearchParams do`,
    );
  }
}

/** The UTF-8 bytes of `text` with each `%XX` replaced by its byte; other `%` are kept as they are. */
function percentDecoded(text: string): Uint8Array {
  const bytes = Buffer.from(text, "utf8");
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const high = hexValue(bytes[i + 1]);
    const low = hexValue(bytes[i + 2]);
    if (bytes[i] === 0x25 && high >= 0 && low >= 0) {
      out[n++] = high * 16 + low;
      i += 2;
    } else {
      out[n++] = bytes[i]!;
    }
  }
  return out.subarray(0, n);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
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
    // The file name as sent: busboy's own base name turns `..` and `../` into "", which would drop
    // the file; safeFileName makes every name safe.
    preservePath: true,
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
    dir ??= await options.uploadsDir();
    const name = uniqueName(safeFileName(part.filename ?? ""), taken);
    const target = path.join(dir, name);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          count(chunk.length);
          size += chunk.length;
          callback(null, chunk);
        } catch (err) {
          callback(err as Error);
        }
      },
    });
    await pipeline(part.file, counter, createWriteStream(target));
    if (part.file.truncated) throw bodyTooLarge(limit);
    if (!part.filename && size === 0) {
      // A file input left empty in an HTML form (no name, no bytes): no file at all.
      await rm(target, { force: true });
      taken.delete(name);
      continue;
    }
    const previous = files[part.fieldname];
    setOwn(files, part.fieldname, previous === undefined ? target : [previous, target].flat());
  }
  return { kind: "multipart", fields, files };
}

/** Longest file name written for an upload, in UTF-8 bytes (file systems allow 255). */
export const MAX_FILE_NAME_BYTES = 240;
/** A longer "extension" is part of the name (it is not kept whole when the name is shortened). */
const MAX_EXTENSION_BYTES = 32;

// Control characters (C0, DEL, C1) and the bidirectional controls that make a name read
// differently from what it is (`invoice\u202Efdp.exe`).
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A client's file name reduced to a safe base name: no folders, no control or bidirectional
 * characters, no leading dots, at most {@link MAX_FILE_NAME_BYTES} UTF-8 bytes (shortened before
 * its extension, never inside a code point); `upload` when nothing is left (`..`, `../`, "").
 */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const cleaned = base.replace(INVISIBLE, "").replace(/^\.+/, "").trim();
  return fitName(cleaned || "upload", "");
}

/** `name`, or `name-2`, `name-3`… (before the extension) when taken; within the length limit. */
export function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let i = 2; taken.has(candidate); i++) candidate = fitName(name, `-${i}`);
  taken.add(candidate);
  return candidate;
}

/** `name` with `suffix` before its extension, shortened to MAX_FILE_NAME_BYTES. */
function fitName(name: string, suffix: string): string {
  let ext = path.extname(name);
  if (Buffer.byteLength(ext) > MAX_EXTENSION_BYTES) ext = "";
  const stem = name.slice(0, name.length - ext.length);
  const room = MAX_FILE_NAME_BYTES - Buffer.byteLength(ext) - Buffer.byteLength(suffix);
  return `${truncateUtf8(stem, room)}${suffix}${ext}`;
}

/** The longest start of `text` of at most `maxBytes` UTF-8 bytes, cut between code points. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  let used = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (used + size > maxBytes) break;
    out += ch;
    used += size;
  }
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
