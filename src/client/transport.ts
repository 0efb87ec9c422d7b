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
    this.debug(`nbhook: > ${method} ${url}${body ? ` ${clip(body)}` : ""}`);
    const t0 = Date.now();
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000),
      });
      text = await response.text();
    } catch (err) {
      this.debug(`nbhook: < no reply: ${describeFailure(err)}`);
      throw new NbhookConnectionError(
        `cannot reach the nbhook server at ${this.baseUrl} (${describeFailure(err)}): start it with \`nbhook serve\`, ` +
          `or point --url / NBHOOK_URL at it`,
        { cause: err },
      );
    }
    this.debug(`nbhook: < ${response.status} ${response.statusText} in ${Date.now() - t0} ms ${clip(text)}`);
    if (!response.ok) throw apiError(response.status, text, `${method} ${route}`);
    return { status: response.status, headers: response.headers, text };
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

function apiError(status: number, text: string, what: string): NbhookApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const parsed = errorBodySchema.safeParse(body);
  if (parsed.success) return new NbhookApiError(status, parsed.data.error, parsed.data.message);
  // Not one of ours (a proxy's page, an older server's route 404, …).
  const message = (body as { message?: unknown } | undefined)?.message;
  return new NbhookApiError(
    status,
    `http-${status}`,
    `${what}: HTTP ${status}${typeof message === "string" ? `: ${message}` : ""}`,
  );
}

function describeFailure(err: unknown): string {
  if (err instanceof DOMException && err.name === "TimeoutError") return "no answer in time";
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}

function clip(text: string, max = DEBUG_BODY_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
