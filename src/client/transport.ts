/**
 * One HTTP exchange with the management API: bearer token, JSON bodies, error answers turned
 * into NbhookApiError, network failures into NbhookConnectionError, and (with `debug`) each
 * request and reply printed with webhook tokens masked.
 */
import type { z } from "zod";
import { NbhookApiError, NbhookConnectionError, NbhookResponseError } from "./errors.js";
import { redactWebhookTokens } from "./redact.js";
import { errorBodySchema } from "../api/schemas.js";

export interface TransportOptions {
  /** Server base URL, e.g. http://127.0.0.1:5000. */
  url: string;
  /** The API token (`<home>/api-token` on the server's machine). */
  token?: string;
  /** Print every request and reply (method, URL, status, body) through `log`. */
  debug?: boolean;
  /** Where debug lines go; default stderr. */
  log?: (line: string) => void;
  /** Give up on a request after this long (default 60 s). */
  timeoutMs?: number;
  /** Headers added to every request, asked for each one (the dashboard's CSRF token). */
  headers?: () => Record<string, string>;
  /**
   * A `503` with `Retry-After` (the server's queue is full, or it is stopping: nothing was done) is
   * sent again after the time it names, at most `retries` times (default 2) and only while the
   * waits add up to at most `maxWaitMs` (default 10 s); a longer Retry-After ends the retries at
   * once. `{ retries: 0 }` turns retrying off.
   */
  retry?: RetryOptions;
}

export interface RetryOptions {
  retries?: number;
  maxWaitMs?: number;
}

export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_MAX_WAIT_MS = 10_000;

/** A reply of any status, its body as bytes (`exchange`). */
export interface RawReply {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

const DEBUG_BODY_CHARS = 2000;

/** JSON.stringify that also writes bigints (CLI parameter values are bigints for Python ints). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? Number(v) : v));
}

export class Transport {
  readonly baseUrl: string;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = options.url.replace(/\/+$/, "");
  }

  private debug(line: string): void {
    if (!this.options.debug) return;
    // console.error is stderr in Node, and exists in a browser too (the SDK runs in both).
    const log = this.options.log ?? ((text: string) => console.error(text));
    log(redactWebhookTokens(line));
  }

  private urlOf(route: string, query: Query = {}): string {
    const url = new URL(this.baseUrl + route);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  /** Sends one request; answers 2xx replies, throws for everything else. */
  async send(method: string, route: string, options: { query?: Query; body?: unknown } = {}): Promise<Reply> {
    const url = this.urlOf(route, options.query);
    const headers: Record<string, string> = { accept: "application/json", ...this.options.headers?.() };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = toJson(options.body);
      headers["content-type"] = "application/json";
    }
    const reply = await this.exchange(method, url, {
      headers,
      body,
      timeoutMs: this.options.timeoutMs ?? 60_000,
    });
    const text = new TextDecoder().decode(reply.body);
    if (reply.status < 200 || reply.status > 299) {
      throw apiError(reply.status, text, `${method} ${route}`, reply.headers);
    }
    return { status: reply.status, headers: reply.headers, text };
  }

  /**
   * Sends one request to `url` (absolute: a webhook URL too) and answers whatever the server
   * answered, any status, without following redirects; retries 503s as `retry` says. Throws
   * NbhookConnectionError when no answer came.
   */
  async exchange(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
  ): Promise<RawReply> {
    const retries = this.options.retry?.retries ?? DEFAULT_RETRIES;
    const maxWaitMs = this.options.retry?.maxWaitMs ?? DEFAULT_RETRY_MAX_WAIT_MS;
    let waitedMs = 0;
    for (let attempt = 0; ; attempt++) {
      const reply = await this.exchangeOnce(method, url, init);
      const delayMs = reply.status === 503 ? retryAfterMs(reply.headers.get("retry-after")) : undefined;
      if (delayMs === undefined || attempt >= retries || waitedMs + delayMs > maxWaitMs) return reply;
      this.debug(
        `nbhook: 503 with Retry-After: sending again in ${delayMs} ms (retry ${attempt + 1} of ${retries})`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      waitedMs += delayMs;
    }
  }

  private async exchangeOnce(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: string; timeoutMs?: number },
  ): Promise<RawReply> {
    const body = init.body;
    this.debug(`nbhook: > ${method} ${url}${body ? ` ${clip(body)}` : ""}`);
    const t0 = Date.now();
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await fetch(url, {
        method,
        headers: init.headers,
        body,
        redirect: "manual",
        signal: init.timeoutMs ? AbortSignal.timeout(init.timeoutMs) : undefined,
      });
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      this.debug(`nbhook: < no reply: ${describeFailure(err)}`);
      throw new NbhookConnectionError(
        `cannot reach the nbhook server at ${originOf(url, this.baseUrl)} (${describeFailure(err)}): start it with \`nbhook serve\`, ` +
          `or point --url / NBHOOK_URL at it`,
        { cause: err },
      );
    }
    const text = new TextDecoder().decode(bytes.subarray(0, DEBUG_BODY_CHARS * 4));
    this.debug(`nbhook: < ${response.status} ${response.statusText} in ${Date.now() - t0} ms ${clip(text)}`);
    return { status: response.status, headers: response.headers, body: bytes };
  }

  /** Sends one request and checks the JSON reply against `schema`. */
  async json<S extends z.ZodType>(
    method: string,
    route: string,
    schema: S,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<z.infer<S>> {
    const reply = await this.send(method, route, options);
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply.text);
    } catch {
      throw new NbhookResponseError(
        `${method} ${route}: the server at ${this.baseUrl} did not answer JSON: ${clip(reply.text, 200)}`,
      );
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const issues = result.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "reply"}: ${i.message}`);
      throw new NbhookResponseError(
        `${method} ${route}: unexpected reply from ${this.baseUrl} (${issues.join("; ")}); are the client and server the same nbhook version?`,
      );
    }
    return result.data as z.infer<S>;
  }
}

export function apiError(status: number, text: string, what: string, headers?: Headers): NbhookApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const retryAfterS = headers ? retryAfterSeconds(headers.get("retry-after")) : undefined;
  const parsed = errorBodySchema.safeParse(body);
  if (parsed.success) {
    return new NbhookApiError(status, parsed.data.error, parsed.data.message, {
      retryAfterS,
      body: parsed.data,
    });
  }
  // Not one of ours (a proxy's page, an older server's route 404, …).
  const message = (body as { message?: unknown } | undefined)?.message;
  return new NbhookApiError(
    status,
    `http-${status}`,
    `${what}: HTTP ${status}${typeof message === "string" ? `: ${message}` : ""}`,
    { retryAfterS },
  );
}

/** `Retry-After` in seconds (delay-seconds, or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function retryAfterMs(value: string | null): number | undefined {
  const seconds = retryAfterSeconds(value);
  return seconds === undefined ? undefined : seconds * 1000;
}

function originOf(url: string, fallback: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return fallback;
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof DOMException && err.name === "TimeoutError") return "no answer in time";
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}

function clip(text: string, max = DEBUG_BODY_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
