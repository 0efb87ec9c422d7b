/**
 * `nbhook find`, `currents`, `delete` and `rotate`: a webhook as a whole (Naas's `webhook.find`,
 * `currents`, `delete`, plus URL rotation).
 */
import { Command } from "commander";
import type { Webhook } from "../client/index.js";
import {
  clientFor,
  describeWebhook,
  WEBHOOK_ARGUMENT,
  withServerOptions,
  type ServerFlags,
} from "./server-options.js";
import { formatDate, printJson, printTable } from "./table.js";

interface CurrentsFlags extends ServerFlags {
  raw?: boolean;
  deleted?: boolean;
}

export function findCommand(): Command {
  return withServerOptions(
    new Command("find")
      .description("print the URL of a deployed notebook (exit 1 if it is not deployed)")
      .argument("<notebook>", WEBHOOK_ARGUMENT),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const webhook = await (await clientFor(flags)).webhook(notebook);
    if (flags.json) printJson(webhook);
    else process.stdout.write(webhook.url + "\n");
  });
}

function lastRun(w: Webhook): string {
  return w.last_run_at ? `${formatDate(w.last_run_at)} ${w.last_run_status ?? ""}`.trim() : "never";
}

export function currentsCommand(): Command {
  return withServerOptions(
    new Command("currents")
      .description("list the deployed webhooks: name, path, host, URL, last run")
      .option("--raw", "every field of every webhook, as JSON")
      .option("--deleted", "include deleted webhooks"),
  ).action(async (flags: CurrentsFlags) => {
    const webhooks = await (await clientFor(flags)).currents({ includeDeleted: flags.deleted });
    if (flags.raw || flags.json) {
      printJson(webhooks);
      return;
    }
    if (webhooks.length === 0) {
      process.stderr.write("nbhook: no webhooks deployed; deploy a notebook with `nbhook add <notebook>`\n");
      return;
    }
    // The name column only when some webhook has a name of its own (by default the name is the path).
    const named = webhooks.some((w) => w.name !== w.path);
    const rows = webhooks.map((w) => [
      ...(named ? [w.name + (w.deleted_at ? " (deleted)" : "")] : []),
      w.path + (w.deleted_at && !named ? " (deleted)" : ""),
      ...(named ? [w.source_host ?? "-"] : []),
      w.url,
      lastRun(w),
    ]);
    printTable([...(named ? ["NAME"] : []), "PATH", ...(named ? ["HOST"] : []), "URL", "LAST RUN"], rows);
  });
}

/** The `nbhook add` that deploys the webhook again. */
function addAgain(w: Webhook): string {
  return w.name === w.path ? `nbhook add ${w.path}` : `nbhook add ${w.path} --name ${w.name}`;
}

export function deleteCommand(): Command {
  return withServerOptions(
    new Command("delete")
      .description("stop a webhook: its URL answers 404 from now on; versions, outputs and runs are kept")
      .argument("<notebook>", WEBHOOK_ARGUMENT),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const webhook = await (await clientFor(flags)).delete(notebook);
    if (flags.json) {
      printJson({ deleted: true, webhook });
      return;
    }
    process.stdout.write(
      `deleted the webhook ${describeWebhook(webhook)}: its URL no longer runs it. ` +
        `\`${addAgain(webhook)}\` brings it back at the same URL (\`nbhook rotate\` then gives a new one).\n`,
    );
  });
}

export function rotateCommand(): Command {
  return withServerOptions(
    new Command("rotate")
      .description("give a webhook a new URL and print it; the old URL stops working")
      .argument("<notebook>", WEBHOOK_ARGUMENT),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const webhook = await (await clientFor(flags)).rotate(notebook);
    if (flags.json) {
      printJson(webhook);
      return;
    }
    process.stdout.write(webhook.url + "\n");
    process.stderr.write(`nbhook: new URL for ${describeWebhook(webhook)}; the old one no longer works\n`);
  });
}
