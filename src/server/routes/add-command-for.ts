/** @module The `nbhook add` command that deploys a webhook again, for messages. */
import type { Webhook } from "../../store/index.js";

/** `nbhook add PATH`, with `--name NAME` when the webhook is named otherwise than its path. */
export function addCommandFor(webhook: Pick<Webhook, "name" | "path">): string {
  return webhook.name === webhook.path
    ? `nbhook add ${webhook.path}`
    : `nbhook add ${webhook.path} --name ${webhook.name}`;
}
