/**
 * `nbhook params <notebook>`: the parameters a notebook takes — each name of its `parameters`
 * cell with its type, default and comment — like papermill's `--help-notebook`. Read from the
 * local .ipynb (no kernel, no server), or with `--deployed` from the live version on the server
 * (`GET /api/webhooks/{id}/parameters`).
 */
import { Command } from "commander";
import type { WebhookParameters } from "../client/index.js";
import { jsonDefault, readParameterDefaults } from "../notebook/parameters/index.js";
import { readNotebook } from "../notebook/read.js";
import { kernelChoiceOf, paramLanguageOf } from "../runs/index.js";
import { clientFor, withServerOptions, type ServerFlags } from "./server-options.js";
import { printJson, printTable } from "./table.js";

interface ParamsFlags extends ServerFlags {
  deployed?: boolean;
}

type ParameterRow = WebhookParameters["parameters"][number];

export function paramsCommand(): Command {
  return withServerOptions(
    new Command("params")
      .description(
        "list the parameters a notebook takes (its `parameters` cell): names, types, defaults (papermill's --help-notebook)",
      )
      .argument("<notebook>", "the .ipynb file")
      .option(
        "--deployed",
        "the parameters of the deployed (live) version on the server, not of the local file",
      ),
  ).action(async (notebook: string, flags: ParamsFlags) => {
    const found = flags.deployed
      ? await deployedParameters(notebook, flags)
      : await localParameters(notebook);
    if (flags.json) {
      printJson(found);
      return;
    }
    if (found.parameters.length === 0) {
      process.stderr.write(
        found.language === null
          ? `nbhook: ${notebook} names no kernel language nbhook reads parameters for\n`
          : `nbhook: ${notebook} has no parameters: no code cell tagged \`parameters\` defines a name\n`,
      );
      return;
    }
    process.stdout.write(`Parameters of ${notebook} (${found.language}):\n`);
    printTable(
      ["NAME", "TYPE", "DEFAULT", "HELP"],
      found.parameters.map((p) => [
        p.name,
        p.annotation && p.annotation !== p.type ? `${p.type} (${p.annotation})` : p.type,
        p.default === undefined ? "-" : JSON.stringify(p.default),
        p.help ?? "",
      ]),
    );
  });
}

interface FoundParameters {
  notebook: string;
  histo?: string | null;
  language: string | null;
  parameters: ParameterRow[];
}

async function localParameters(file: string): Promise<FoundParameters> {
  const notebook = await readNotebook(file);
  const choice = kernelChoiceOf(notebook);
  // As a call chooses: the notebook's language, else its kernel's name (`python3`).
  const language = paramLanguageOf(choice.language ?? choice.name ?? "");
  const parameters = language
    ? readParameterDefaults(notebook, language).map((d) => {
        const row: ParameterRow = { name: d.name, type: d.type };
        if (d.default !== undefined) row.default = jsonDefault(d.default);
        if (d.annotation !== undefined) row.annotation = d.annotation;
        if (d.help !== undefined) row.help = d.help;
        return row;
      })
    : [];
  return { notebook: file, language: language ?? choice.language ?? null, parameters };
}

async function deployedParameters(file: string, flags: ParamsFlags): Promise<FoundParameters> {
  const client = await clientFor(flags);
  const webhook = await client.webhook(file);
  const found = await client.webhookParameters(webhook.id);
  return {
    notebook: webhook.path,
    histo: found.histo,
    language: found.language,
    parameters: found.parameters,
  };
}
