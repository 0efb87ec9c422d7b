/**
 * `nbhook list`, `get` and `clear`: the deployed versions of a notebook (Naas's `webhook.list`,
 * `get`, `clear`). The live version (the newest, the one the URL runs) is cleared only with --force.
 */
import { Command } from "commander";
import { AppError } from "../errors.js";
import { downloadBase, saveAndReport } from "./notebook-download.js";
import {
  clientFor,
  describeWebhook,
  WEBHOOK_ARGUMENT,
  withServerOptions,
  type ServerFlags,
} from "./server-options.js";
import { formatDate, formatSize, printJson, printTable } from "./table.js";

interface GetFlags extends ServerFlags {
  histo?: string;
  output?: string;
  force?: boolean;
}

interface ClearFlags extends ServerFlags {
  histo?: string;
  all?: boolean;
  force?: boolean;
}

export function listCommand(): Command {
  return withServerOptions(
    new Command("list")
      .description("list the deployed versions of a notebook, newest (live) first")
      .argument("<notebook>", WEBHOOK_ARGUMENT),
  ).action(async (notebook: string, flags: ServerFlags) => {
    const versions = await (await clientFor(flags)).list(notebook);
    if (flags.json) {
      printJson(versions);
      return;
    }
    const rows = versions.map((v) => [
      v.histo,
      formatDate(v.created_at),
      formatSize(v.size),
      v.live ? "live" : "",
    ]);
    printTable(["HISTO", "DATE", "SIZE", "LIVE"], rows);
  });
}

export function getCommand(): Command {
  return withServerOptions(
    new Command("get")
      .description("download a deployed version of a notebook (the live one by default)")
      .argument("<notebook>", WEBHOOK_ARGUMENT)
      .option("--histo <histo>", "the version to get (see `nbhook list`)")
      .option(
        "-o, --output <file>",
        "where to write it (default <name>.<histo>.ipynb beside the notebook; - for stdout)",
      )
      .option("--force", "overwrite the output file if it exists"),
  ).action(async (notebook: string, flags: GetFlags) => {
    const client = await clientFor(flags);
    const webhook = await client.webhook(notebook);
    const download = await client.get(webhook.name, { histo: flags.histo });
    await saveAndReport(download, downloadBase(notebook, webhook), download.histo, flags);
  });
}

export function clearCommand(): Command {
  return withServerOptions(
    new Command("clear")
      .description("remove deployed versions: one (--histo) or all but the live one (--all)")
      .argument("<notebook>", WEBHOOK_ARGUMENT)
      .option("--histo <histo>", "the version to remove (see `nbhook list`)")
      .option("--all", "remove every version except the live one")
      .option("--force", "allow removing the live version (the URL then runs the previous one, or nothing)"),
  ).action(async (notebook: string, flags: ClearFlags) => {
    if (!flags.histo === !flags.all) {
      throw new AppError(
        "usage",
        "say what to clear: --histo HISTO (one version, see `nbhook list`) or --all (all but the live one)",
      );
    }
    const client = await clientFor(flags);
    const webhook = await client.webhook(notebook);
    const deleted = await client.clear(webhook.name, {
      histo: flags.histo,
      all: flags.all,
      force: flags.force,
    });
    if (flags.json) {
      printJson({ deleted });
      return;
    }
    const where = describeWebhook(webhook);
    process.stdout.write(
      deleted.length
        ? `cleared ${deleted.length} version${deleted.length > 1 ? "s" : ""} of ${where}: ${deleted.join(", ")}\n`
        : `nothing to clear: ${where} has only its live version (--force clears it too)\n`,
    );
  });
}
