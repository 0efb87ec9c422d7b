/**
 * Finding the record a management route names by id, or answering 404 with how to find the right
 * one. Shared by the webhook, history and run routes.
 */
import { AppError } from "../../errors.js";
import type { Run, Webhook } from "../../store/index.js";
import type { ServerDeps } from "../types.js";

/** The 404 of an unknown webhook id (also what a token limited to other webhooks gets). */
export function noWebhook(id: string): AppError {
  return new AppError(
    "not-found",
    `no webhook with id ${id}: list them with \`nbhook currents\` (GET /api/webhooks)`,
  );
}

/** The 404 of an unknown run id (also what a token limited to other webhooks gets). */
export function noRun(id: string): AppError {
  return new AppError(
    "not-found",
    `no run with id ${id}: list runs with \`nbhook runs <path>\` (GET /api/runs)`,
  );
}

export async function webhookOr404(deps: ServerDeps, id: string): Promise<Webhook> {
  const webhook = await deps.store.getWebhook(id);
  if (!webhook) throw noWebhook(id);
  return webhook;
}

/**
 * The webhook a notebook path names: the one named by the path, else the only one deployed from
 * it; 409 listing the names when several were, 404 when none.
 */
export async function webhookOfPathOr404(deps: ServerDeps, notebookPath: string): Promise<Webhook> {
  const named = await deps.store.findWebhookByName(notebookPath);
  if (named) return named;
  const from = await deps.store.listWebhooksByPath(notebookPath);
  if (from.length === 1) return from[0]!;
  if (from.length > 1) {
    throw new AppError(
      "conflict",
      `${notebookPath} is deployed under several names (${from.map((w) => w.name).join(", ")}): ask by name ` +
        "(the webhook's `name`, or its id)",
    );
  }
  throw new AppError(
    "not-found",
    `no webhook for ${notebookPath}: deploy it with \`nbhook add ${notebookPath}\``,
  );
}

export async function runOr404(deps: ServerDeps, id: string): Promise<Run> {
  const run = await deps.store.getRun(id);
  if (!run) throw noRun(id);
  return run;
}
