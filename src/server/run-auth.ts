/**
 * The second key to two /api routes: `GET /api/runs/{id}` and `GET /api/runs/{id}/response` also
 * accept `Authorization: Bearer <token of the run's webhook>`, so a caller that has only the
 * webhook URL can poll the calls it made with `Prefer: respond-async` (docs/api.md). The token must
 * be the webhook's current one (a rotated token stops working) and the webhook not deleted; every
 * other /api route takes the API token only.
 */
import type { FastifyRequest } from "fastify";
import type { Store } from "../store/index.js";
import { isAuthorized } from "./api-token.js";

const POLL_ROUTE = /^\/api\/runs\/([^/?#]+)(?:\/response)?\/?(?:\?.*)?$/;

export async function isRunPollAuthorized(request: FastifyRequest, store: Store): Promise<boolean> {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const header = request.headers.authorization;
  const match = POLL_ROUTE.exec(request.url);
  if (!header || !match) return false;
  let id: string;
  try {
    id = decodeURIComponent(match[1]!);
  } catch {
    return false;
  }
  const run = await store.getRun(id);
  if (!run) return false;
  const webhook = await store.getWebhook(run.webhookId);
  if (!webhook || webhook.deletedAt !== null) return false;
  return isAuthorized(header, webhook.token); // constant-time
}
