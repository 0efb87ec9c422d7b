/**
 * `nbhook get-output` and `clear-output`: the executed notebooks runs left (Naas's
 * `webhook.get_output`, `clear_output`).
 */
import { Command } from "commander";
import { downloadBase, saveAndReport } from "./notebook-download.js";
import {
  clientFor,
  describeWebhook,
  WEBHOOK_ARGUMENT,
  withServerOptions,
  type ServerFlags,
} from "./server-options.js";
import { printJson } from "./table.js";

interface GetOutputFlags extends ServerFlags {
  histo?: string;
  output?: string;
  force?: boolean;
}

export function getOutputCommand(): Command {
  return withServerOptions(
    new Command("get-output")
      .description("download the executed notebook of a run (the newest by default)")
      .argument("<notebook>", WEBHOOK_ARGUMENT)
      .option("--histo <histo>", "the output to get (its history id)")
      .option(
        "-o, --output <file>",
        "where to write it (default <name>.output.<histo>.ipynb beside the notebook; - for stdout)",
      )
      .option("--force", "overwrite the output file if it exists"),
  ).action(async (notebook: string, flags: GetOutputFlags) => {
    const client = await clientFor(flags);
    const webhook = await client.webhook(notebook);
    const download = await client.getOutput(webhook.name, { histo: flags.histo });
    await saveAndReport(download, downloadBase(notebook, webhook), `output.${download.histo}`, flags);
  });
}

export function clearOutputCommand(): Command {
  return withServerOptions(
    new Command("clear-output")
      .description("remove the executed notebooks of runs: one (--histo) or all")
      .argument("<notebook>", WEBHOOK_ARGUMENT)
      .option("--histo <histo>", "the output to remove (default: all of them)"),
  ).action(async (notebook: string, flags: ServerFlags & { histo?: string }) => {
    const client = await clientFor(flags);
    const webhook = await client.webhook(notebook);
    const deleted = await client.clearOutput(webhook.name, { histo: flags.histo });
    if (flags.json) {
      printJson({ deleted });
      return;
    }
    const where = describeWebhook(webhook);
    process.stdout.write(
      deleted.length
        ? `cleared ${deleted.length} output${deleted.length > 1 ? "s" : ""} of ${where}: ${deleted.join(", ")}\n`
        : `nothing to clear: ${where} has no outputs\n`,
    );
  });
}
