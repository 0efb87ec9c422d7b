/**
 * Finding the record a management route names by id, or answering 404 with how to find the right
 * one. Shared by the webhook, history and run routes.
 */
import { AppError } from "../../errors.js";
import type { Run, Webhook } from "../../store/index.js";
import type { ServerDeps } from "../types.js";

export async function webhookOr404(deps: ServerDeps, id: string): Promise<Webhook> {
  const webhook = await deps.store.getWebhook(id);
  if (!webhook) {
    throw new AppError(
      "not-found",
      `no webhook with id ${id}: list them with \`nbhook currents\` (GET /api/webhooks)`,
    );
  }
  return webhook;
}

export async function runOr404(deps: ServerDeps, id: string): Promise<Run> {
  const run = await deps.store.getRun(id);
  if (!run)
    throw new AppError(
      "not-found",
      `no run with id ${id}: list runs with \`nbhook runs <path>\` (GET /api/runs)`,
    );
  return run;
}
