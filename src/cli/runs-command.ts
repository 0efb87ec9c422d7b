/**
 * `nbhook runs [notebook]`: the run history of a webhook (or of all), and `--id RUN` for one run's
 * details and, with -o, its executed notebook.
 */
import { Command, Option } from "commander";
import type { NbhookClient, Run } from "../client/index.js";
import { AppError } from "../errors.js";
import { stripAnsi } from "../notebook/ansi.js";
import { wholeNumberFlag } from "./flag-values.js";
import { saveDownload } from "./notebook-download.js";
import { clientFor, WEBHOOK_ARGUMENT, withServerOptions, type ServerFlags } from "./server-options.js";
import { formatDate, formatDuration, printJson, printTable } from "./table.js";

interface RunsFlags extends ServerFlags {
  limit?: number;
  id?: string;
  output?: string;
  force?: boolean;
}

function describeRun(run: Run): string {
  const lines = [
    ["run", run.id],
    ["notebook", run.path ?? run.webhook_id],
    ["status", run.status + (run.http_status ? ` (HTTP ${run.http_status})` : "")],
    ["started", formatDate(run.started_at)],
    ["duration", formatDuration(run.duration_ms)],
    ["version", run.version_histo],
    ["output", `${run.output_histo} (nbhook runs --id ${run.id} -o FILE)`],
    ["parameters", JSON.stringify(run.parameters)],
  ];
  if (run.error) {
    const where = run.error.cell_index !== undefined ? ` in cell ${run.error.cell_index + 1}` : "";
    lines.push(["error", `${run.error.ename}: ${run.error.evalue}${where}`]);
  }
  const text = lines.map(([k, v]) => `${k!.padEnd(10)} ${v}`).join("\n") + "\n";
  const trace = run.error?.traceback?.length ? run.error.traceback.map(stripAnsi).join("\n") + "\n" : "";
  return text + trace;
}

async function showRun(client: NbhookClient, id: string, flags: RunsFlags): Promise<void> {
  const run = await client.run(id);
  if (flags.output !== undefined) {
    const written = await saveDownload(await client.runOutput(id), flags.output, flags.force ?? false);
    if (written !== "-")
      process.stderr.write(`nbhook: executed notebook of run ${id} written to ${written}\n`);
    if (written === "-") return;
  }
  if (flags.json) printJson(run);
  else process.stdout.write(describeRun(run));
}

export function runsCommand(): Command {
  return withServerOptions(
    new Command("runs")
      .description("list recent runs of a deployed notebook (of all without one), newest first")
      .argument("[notebook]", WEBHOOK_ARGUMENT)
      .addOption(
        new Option("--limit <n>", "how many runs (default 50)").argParser(
          wholeNumberFlag("--limit", 1, 1000),
        ),
      )
      .option("--id <run>", "show one run: status, timing, error, parameters")
      .option("-o, --output <file>", "with --id: write the run's executed notebook there (- for stdout)")
      .option("--force", "overwrite the -o file if it exists"),
  ).action(async (notebook: string | undefined, flags: RunsFlags) => {
    const client = await clientFor(flags);
    if (flags.id !== undefined) {
      if (notebook !== undefined) throw new AppError("usage", "give either a notebook or --id RUN, not both");
      await showRun(client, flags.id, flags);
      return;
    }
    if (flags.output !== undefined)
      throw new AppError("usage", "-o needs --id RUN: which run's notebook to write");
    const runs = await client.runs(notebook, { limit: flags.limit });
    if (flags.json) {
      printJson(runs);
      return;
    }
    if (runs.length === 0) {
      process.stderr.write("nbhook: no runs yet\n");
      return;
    }
    const rows = runs.map((r) => [
      r.id,
      formatDate(r.started_at),
      r.status,
      formatDuration(r.duration_ms),
      r.http_status ? String(r.http_status) : "-",
      ...(notebook === undefined ? [r.webhook_name ?? r.path ?? r.webhook_id] : []),
    ]);
    printTable(
      ["RUN", "STARTED", "STATUS", "DURATION", "HTTP", ...(notebook === undefined ? ["WEBHOOK"] : [])],
      rows,
    );
  });
}
