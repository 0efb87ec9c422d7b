/**
 * Calling a webhook from the SDK (and `nbhook call`): one request to its URL with the parameters,
 * and for an asynchronous call (`Prefer: respond-async`) the polling of its run up to the answer
 * (docs/api.md, "Asynchronous calls"). Runs anywhere `fetch` does: no Node import.
 *
 * How parameters travel: when every value is a scalar (string, number, bigint, boolean) they go in
 * the query string of a GET, as a browser or curl would send them, and the server converts each to
 * the type of its default in the notebook's `parameters` cell; when any value is structured (a
 * list, an object, null), or `method: "POST"` is asked for, they go as a JSON object in a POST
 * (ints beyond 2^53 written exactly).
 */
import { acceptedCallSchema, runSchema, type RunJson as Run } from "../api/schemas.js";
import { NbhookClientError, NbhookResponseError } from "./errors.js";
import { retryAfterSeconds, type RawReply, type Transport } from "./transport.js";

export interface CallOptions {
  /** `GET` (default when every value is a scalar) or `POST` (JSON body; the default otherwise). */
  method?: "GET" | "POST";
  /** Send `Prefer: respond-async` and poll the run to its answer. */
  async?: boolean;
  /** Asynchronous calls: called when the run's status changes (queued, running, …). */
  onProgress?: (run: Run) => void;
  /** Asynchronous calls: the first wait between polls (default 200 ms; it doubles up to 2 s). */
  pollIntervalMs?: number;
  /** Give up after this long (default: never; the server ends a run at its webhook's time limit). */
  timeoutMs?: number;
  /** More request headers. */
  headers?: Record<string, string>;
}

/** What a webhook answered: for an asynchronous call, the kept answer of its run. */
export interface CallAnswer {
  status: number;
  /** 2xx */
  ok: boolean;
  headers: Headers;
  /** The `Content-Type` header, or "" when there was none. */
  contentType: string;
  body: Uint8Array;
  /** `X-Nbhook-Run-Id`, when the call got a run record. */
  runId?: string;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json(): unknown;
}

export type CallParameters = Record<string, unknown>;

const isScalar = (v: unknown) =>
  typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean";

/**
 * JSON text of the parameters, bigints as exact JSON integers (JSON.stringify has none: each one
 * is written as a marker string first, then the quoted marker is replaced by its digits).
 */
export function parametersJson(params: CallParameters): string {
  const marker = `nbhook-bigint-${Math.random().toString(36).slice(2)}:`;
  const text = JSON.stringify(params, (_key, v: unknown) =>
    typeof v === "bigint" ? `${marker}${v.toString()}` : v,
  );
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, "g"), (_m, digits: string) => digits);
}

/** `{base}/notebook/{token}` → base and token; throws for any other URL. */
export function splitWebhookUrl(url: string): { base: string; token: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NbhookClientError(`not a webhook URL: "${url}" (expected http(s)://HOST/notebook/TOKEN)`);
  }
  const match = /^(.*)\/notebook\/([^/]+)\/?$/.exec(parsed.pathname);
  if (!match || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new NbhookClientError(`not a webhook URL: "${url}" (expected http(s)://HOST/notebook/TOKEN)`);
  }
  return { base: parsed.origin + match[1], token: decodeURIComponent(match[2]!) };
}

function answerOf(reply: RawReply): CallAnswer {
  const body = reply.body;
  return {
    status: reply.status,
    ok: reply.status >= 200 && reply.status <= 299,
    headers: reply.headers,
    contentType: reply.headers.get("content-type") ?? "",
    body,
    runId: reply.headers.get("x-nbhook-run-id") ?? undefined,
    text: () => new TextDecoder().decode(body),
    json: () => JSON.parse(new TextDecoder().decode(body)) as unknown,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls the webhook at `url`; see CallOptions. Throws only when no answer came. */
export async function callWebhook(
  http: Transport,
  url: string,
  params: CallParameters = {},
  options: CallOptions = {},
): Promise<CallAnswer> {
  const { base, token } = splitWebhookUrl(url);
  const deadline = options.timeoutMs ? Date.now() + options.timeoutMs : undefined;
  const left = () => (deadline === undefined ? undefined : Math.max(1, deadline - Date.now()));
  const structured = Object.values(params).some((v) => !isScalar(v));
  const method = options.method ?? (structured ? "POST" : "GET");
  const headers: Record<string, string> = { ...options.headers };
  if (options.async) headers.prefer = "respond-async";
  let target = url;
  let body: string | undefined;
  if (method === "GET") {
    if (structured) {
      throw new NbhookClientError(
        "a GET call takes scalar parameters only (strings, numbers, booleans): send lists, objects and null with POST",
      );
    }
    const u = new URL(url);
    for (const [name, value] of Object.entries(params)) u.searchParams.append(name, String(value));
    target = u.toString();
  } else {
    body = parametersJson(params);
    headers["content-type"] = "application/json";
  }
  const reply = await http.exchange(method, target, { headers, body, timeoutMs: left() });
  if (!options.async || reply.status !== 202) return answerOf(reply);

  // Asynchronous: the 202 names the run; poll it with the webhook's own token, then fetch its
  // kept answer. The run's routes are taken on the base the call went to (not the server's
  // --base-url, which this client may not reach).
  let accepted;
  try {
    accepted = acceptedCallSchema.parse(JSON.parse(new TextDecoder().decode(reply.body)));
  } catch {
    throw new NbhookResponseError(
      `the asynchronous call to ${base} did not answer a run (202 without its JSON)`,
    );
  }
  const runUrl = `${base}/api/runs/${encodeURIComponent(accepted.id)}`;
  const auth = { authorization: `Bearer ${token}`, accept: "application/json" };
  let intervalMs = options.pollIntervalMs ?? 200;
  let lastStatus: string | undefined;
  for (;;) {
    const polled = await http.exchange("GET", runUrl, { headers: auth, timeoutMs: left() });
    if (polled.status !== 200) return answerOf(polled);
    const run = runSchema.parse(JSON.parse(new TextDecoder().decode(polled.body)));
    if (run.status !== lastStatus) {
      lastStatus = run.status;
      options.onProgress?.(run);
    }
    if (run.status !== "queued" && run.status !== "running") break;
    if (deadline !== undefined && Date.now() + intervalMs > deadline) {
      throw new NbhookResponseError(
        `run ${run.id} is still ${run.status} after ${options.timeoutMs} ms; its answer will be at ${runUrl}/response`,
      );
    }
    await sleep(intervalMs);
    intervalMs = Math.min(intervalMs * 2, 2000);
  }
  for (;;) {
    const answer = await http.exchange("GET", `${runUrl}/response`, { headers: auth, timeoutMs: left() });
    // 409 while the run is still being finished (its record is written before its answer is linked).
    const wait = answer.status === 409 ? retryAfterSeconds(answer.headers.get("retry-after")) : undefined;
    if (wait === undefined) return answerOf(answer);
    if (deadline !== undefined && Date.now() + wait * 1000 > deadline) return answerOf(answer);
    await sleep(wait * 1000);
  }
}
