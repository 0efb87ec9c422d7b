/**
 * `nbhook run NOTEBOOK`: execute a notebook once, papermill-style, and write the executed copy.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Command, Option } from "commander";
import { stripAnsi } from "../notebook/ansi.js";
import {
  inferCliValue,
  parseYamlParameters,
  readParametersFile,
  setOwn,
} from "../notebook/parameters/index.js";
import { readNotebook, writeFileAtomic, writeNotebook } from "../notebook/read.js";
import type { Parameters } from "../notebook/types.js";
import { executeNotebook, type ProgressEvent, type ExecutionResult } from "../runs/index.js";
import { splitPair } from "./argv.js";
import { EXIT } from "./exit-codes.js";
import { secondsFlag } from "./flag-values.js";

/** The parameter flags `run` and `call` share: -p, -r, -f, -y. */
export interface ParameterFlags {
  parameters?: string[];
  parametersRaw?: string[];
  parametersFile?: string[];
  parametersYaml?: string[];
}

interface RunFlags extends ParameterFlags {
  output?: string;
  kernel?: string;
  timeout?: number;
  cellTimeout?: number;
  cwd?: string;
  responseOut?: string;
  quiet?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function runCommand(): Command {
  return new Command("run")
    .description(
      "execute a notebook on its Jupyter kernel with parameters injected, and save the executed copy",
    )
    .argument("<notebook>", "the .ipynb file to run")
    .option(
      "-p, --parameters <name value>",
      "set a parameter; the value's type is inferred as papermill does (int, float, True/False, None, else str)",
      collect,
    )
    .option("-r, --parameters-raw <name value>", "set a parameter to a string, as given", collect)
    .option("-f, --parameters-file <file>", "read parameters from a JSON or YAML file (repeatable)", collect)
    .option("-y, --parameters-yaml <yaml>", "read parameters from a YAML/JSON string (repeatable)", collect)
    .option(
      "-o, --output <file>",
      "where to write the executed notebook (default: <name>.out.ipynb beside the input)",
    )
    .option(
      "-k, --kernel <name>",
      "use this kernel instead of the one the notebook names (see `nbhook kernels`)",
    )
    .addOption(
      new Option("--timeout <seconds>", "time limit for the whole run, kernel start included").argParser(
        secondsFlag("--timeout", { zeroMeans: "no limit" }),
      ),
    )
    .addOption(
      new Option("--cell-timeout <seconds>", "time limit for each cell").argParser(
        secondsFlag("--cell-timeout", { zeroMeans: "no limit" }),
      ),
    )
    .option("--cwd <dir>", "working directory of the kernel (default: the notebook's folder)")
    .option(
      "--response-out <file>",
      "write the body the notebook returned (respond_*) to this file and print its content type",
    )
    .option("-q, --quiet", "no progress on stderr")
    .option("--json", "print a JSON summary of the run on stdout")
    .addHelpText(
      "after",
      "\nParameters apply in this order, later ones winning: -f, -y, -p, -r.\n" +
        "Exit codes: 0 ok, 1 a cell failed, 2 usage or setup error, 3 timeout, 4 the kernel died.",
    )
    .action(async (input: string, flags: RunFlags) => {
      process.exitCode = await runNotebookFile(input, flags);
    });
}

export async function collectParameters(flags: ParameterFlags): Promise<Parameters> {
  const params: Parameters = {};
  // setOwn, not Object.assign or params[name] =: a parameter may be called __proto__.
  const merge = (more: Parameters) => Object.entries(more).forEach(([k, v]) => setOwn(params, k, v));
  for (const file of flags.parametersFile ?? []) merge(await readParametersFile(file));
  for (const text of flags.parametersYaml ?? []) merge(parseYamlParameters(text, "-y"));
  for (const word of flags.parameters ?? []) {
    const [name, value] = splitPair(word, "-p");
    setOwn(params, name, inferCliValue(value, name));
  }
  for (const word of flags.parametersRaw ?? []) {
    const [name, value] = splitPair(word, "-r");
    setOwn(params, name, value);
  }
  return params;
}

async function runNotebookFile(input: string, flags: RunFlags): Promise<number> {
  const notebook = await readNotebook(input);
  const parameters = await collectParameters(flags);
  const output = flags.output ?? defaultOutputPath(input);
  const progress = flags.quiet ? undefined : progressPrinter();
  const result = await executeNotebook(notebook, {
    parameters,
    kernel: flags.kernel,
    runTimeoutMs: flags.timeout ? flags.timeout * 1000 : undefined,
    cellTimeoutMs: flags.cellTimeout ? flags.cellTimeout * 1000 : undefined,
    cwd: path.resolve(flags.cwd ?? path.dirname(input)),
    onProgress: progress,
  });
  await writeNotebook(output, result.notebook);
  const contentType = flags.responseOut ? await writeResponse(flags.responseOut, result) : undefined;

  if (flags.json) {
    process.stdout.write(
      JSON.stringify({
        status: result.status,
        output,
        kernel: result.kernel,
        duration_ms: result.durationMs,
        error: result.error
          ? { ...result.error, traceback: result.error.traceback.map(stripAnsi) }
          : undefined,
        response: contentType ? { content_type: contentType, file: flags.responseOut } : undefined,
      }) + "\n",
    );
  } else if (contentType) {
    process.stdout.write(`${contentType}\n`);
  }
  if (!flags.quiet || result.status !== "ok") reportOutcome(result, output);
  return exitCodeOf(result);
}

function defaultOutputPath(input: string): string {
  const { dir, name } = path.parse(input);
  return path.join(dir, `${name}.out.ipynb`);
}

async function writeResponse(file: string, result: ExecutionResult): Promise<string> {
  if (result.response) {
    await writeFileAtomic(file, result.response.body);
    return result.response.contentType;
  }
  // No respond_* call: the server's default reply (DESIGN.md, "Response"; "Done" as Naas).
  const body = {
    id: randomUUID(),
    status: result.status === "ok" ? "Done" : "error",
    time: result.durationMs / 1000,
  };
  await writeFileAtomic(file, JSON.stringify(body));
  return "application/json";
}

function exitCodeOf(result: ExecutionResult): number {
  switch (result.status) {
    case "ok":
      return EXIT.ok;
    case "error":
      return EXIT.cellError;
    case "timeout":
      return EXIT.timeout;
    case "died":
      return EXIT.kernelDied;
  }
}

function reportOutcome(result: ExecutionResult, output: string): void {
  const secs = (result.durationMs / 1000).toFixed(2);
  if (result.status === "ok") {
    process.stderr.write(`nbhook: done in ${secs} s; executed notebook written to ${output}\n`);
    return;
  }
  const err = result.error;
  const cell = err?.cellIndex !== undefined ? result.notebook.cells[err.cellIndex] : undefined;
  const count =
    cell?.cell_type === "code" && cell.execution_count != null ? ` (In [${cell.execution_count}])` : "";
  const where = err?.cellIndex !== undefined ? ` in cell ${err.cellIndex + 1} of the notebook${count}` : "";
  const trace = err?.traceback.length ? `\n${err.traceback.map(stripAnsi).join("\n")}\n` : "\n";
  process.stderr.write(
    `nbhook: run failed${where} after ${secs} s: ${err?.ename}: ${err?.evalue}${trace}` +
      `nbhook: executed notebook (up to the failing cell) written to ${output}\n`,
  );
}

/** One line per finished cell on stderr; a line when a cell has been running for 2 s or more. */
function progressPrinter(): (event: ProgressEvent) => void {
  let slowTimer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  return (event) => {
    switch (event.type) {
      case "kernel-starting":
        process.stderr.write(`nbhook: starting kernel ${event.kernel}\n`);
        break;
      case "kernel-ready":
        process.stderr.write(`nbhook: kernel ready in ${event.ms} ms\n`);
        break;
      case "cell-start":
        slowTimer = setTimeout(() => {
          process.stderr.write(
            `nbhook: cell ${event.ordinal}/${event.total} still running (elapsed ${elapsed()})\n`,
          );
        }, 2000);
        slowTimer.unref();
        break;
      case "cell-done":
        clearTimeout(slowTimer);
        process.stderr.write(
          `nbhook: cell ${event.ordinal}/${event.total} ${event.status} in ${event.ms} ms (elapsed ${elapsed()})\n`,
        );
        break;
    }
  };
}
