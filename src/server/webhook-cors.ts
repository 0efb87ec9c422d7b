/**
 * @module CORS for webhook URLs, per webhook (`nbhook add --cors ORIGIN`, the webhook's
 * `settings.cors`), with @fastify/cors: its delegator looks the webhook up by the URL's token and
 * answers the options for that webhook's origins. Only the trigger routes have it (trigger.ts
 * registers it in their scope); /api has none (the dashboard is same-origin).
 *
 * - An allowed origin (listed, or `*`) gets `Access-Control-Allow-Origin` on every answer (errors
 *   included, so a page can read why), and its preflight (`OPTIONS` with `Access-Control-Request-
 *   Method`) is answered 204 with the methods (GET, POST), the headers asked for, and a max age.
 * - Any other origin, an unknown token, or a webhook without `--cors` gets no CORS header at all;
 *   its `OPTIONS` stays the route's 405, as without CORS. No credentials are ever allowed: the
 *   token in the URL is the only secret, cookies are not needed.
 */
import type { FastifyCorsOptions } from "@fastify/cors";
import type { FastifyRequest } from "fastify";
import type { Store } from "../store/index.js";

/** The headers a page calling a webhook can read besides the safelisted ones. */
export const EXPOSED_HEADERS = [
  "Location",
  "Content-Disposition",
  "Retry-After",
  "Preference-Applied",
  "Server-Timing",
  "X-Nbhook-Run-Id",
  "Nbhook-Histo",
];

/** How long a browser may keep a preflight's answer, in seconds. */
export const PREFLIGHT_MAX_AGE_S = 600;

const REFUSED: FastifyCorsOptions = { origin: false };

/** The CORS options of one request to `/notebook/:token` (@fastify/cors's delegator, promise form). */
export async function webhookCorsOptions(store: Store, request: FastifyRequest): Promise<FastifyCorsOptions> {
  const origin = request.headers.origin;
  if (typeof origin !== "string" || origin === "") return REFUSED; // not a cross-origin browser call
  // An OPTIONS that is not a preflight is not CORS's to answer: the route's 405.
  if (request.method === "OPTIONS" && request.headers["access-control-request-method"] === undefined)
    return REFUSED;
  const token = (request.params as { token?: unknown } | undefined)?.token;
  if (typeof token !== "string" || token === "") return REFUSED;
  const webhook = await store.findWebhookByToken(token);
  const allowed = webhook?.settings.cors ?? [];
  const any = allowed.includes("*");
  if (!any && !allowed.includes(origin)) return REFUSED;
  return {
    // `*` as such (no credentials); a listed origin reflected, with `Vary: Origin` (the plugin's).
    origin: any ? "*" : origin,
    methods: ["GET", "POST"],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_S,
    credentials: false,
    strictPreflight: false,
  };
}
