/** @module `findWebhookByPath` of every store, from its name and path lookups. */
import type { Store, Webhook } from "./types.js";

/** The webhook named `path` (a webhook's default name), else the only one deployed from `path`. */
export async function webhookOfPath(
  store: Pick<Store, "findWebhookByName" | "listWebhooksByPath">,
  path: string,
): Promise<Webhook | undefined> {
  const named = await store.findWebhookByName(path);
  if (named) return named;
  const from = await store.listWebhooksByPath(path);
  return from.length === 1 ? from[0] : undefined;
}
