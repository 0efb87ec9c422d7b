/**
 * `nbhook find`, `currents`, `delete` and `rotate`: a webhook as a whole (Naas's `webhook.find`,
 * `currents`, `delete`, plus URL rotation).
 */
import { Command } from "commander";
import type { Webhook } from "../client/index.js";
import { clientFor, withServerOptions, type ServerFlags } from "./server-options.js";
import { formatDate, printJson, printTable } from "./table.js";

interface CurrentsFlags extends ServerFlags {
  raw?: boolean;
  deleted?: boolean;
}

export function findCommand(): Command {
  return withServerOptions(
    new Command("find")
      .description("print the URL of a deployed notebook (exit 1 if it is not deployed)")
      .argument("<notebook>"),
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
      .description("list the deployed webhooks: path, URL, last run")
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
    const rows = webhooks.map((w) => [w.path + (w.deleted_at ? " (deleted)" : ""), w.url, lastRun(w)]);
    printTable(["PATH", "URL", "LAST RUN"], rows);
  });
}

export function deleteCommand(): Command {
  return withServerOptions(
    new Command("delete")
      .description("stop a webhook: its URL answers 404 from now on; versions, outputs and runs are kept")
      .argument("<notebook>"),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const webhook = await (await clientFor(flags)).delete(notebook);
    if (flags.json) {
      printJson({ deleted: true, webhook });
      return;
    }
    process.stdout.write(
      `deleted the webhook of ${webhook.path}: its URL no longer runs it. ` +
        `\`nbhook add ${webhook.path}\` brings it back at the same URL (\`nbhook rotate\` then gives a new one).\n`,
    );
  });
}

export function rotateCommand(): Command {
  return withServerOptions(
    new Command("rotate")
      .description("give a webhook a new URL and print it; the old URL stops working")
      .argument("<notebook>"),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const webhook = await (await clientFor(flags)).rotate(notebook);
    if (flags.json) {
      printJson(webhook);
      return;
    }
    process.stdout.write(webhook.url + "\n");
    process.stderr.write(`nbhook: new URL for ${webhook.path}; the old one no longer works\n`);
  });
}
