/**
 * `nbhook add <notebook>`: deploy a notebook as a webhook (Naas's `webhook.add`), or a new version
 * of it (same URL). Prints the URL on stdout; what happened goes to stderr.
 */
import { Command, Option } from "commander";
import { AppError } from "../errors.js";
import { inferCliValue } from "../notebook/parameters/index.js";
import { RUN_MODES, type RunMode } from "../store/index.js";
import { splitPair } from "./argv.js";
import { secondsFlag, wholeNumberFlag } from "./flag-values.js";
import { hostname } from "node:os";
import {
  absolutePath,
  clientFor,
  describeWebhook,
  withServerOptions,
  type ServerFlags,
} from "./server-options.js";
import { printJson } from "./table.js";

interface AddFlags extends ServerFlags {
  notifUp?: string[];
  notifDown?: string[];
  nextUrl?: string;
  inline?: boolean;
  parameters?: string[];
  parametersRaw?: string[];
  debugRuns?: boolean;
  timeout?: number;
  file?: string[];
  mode?: RunMode;
  maxConcurrency?: number;
  reuseCalls?: number;
  name?: string;
  cors?: string[];
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function pair(word: string, flag: string): [string, string] {
  try {
    return splitPair(word, flag);
  } catch (err) {
    throw new AppError("usage", (err as Error).message);
  }
}

function paramsOf(flags: AddFlags): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const word of flags.parameters ?? []) {
    const [name, value] = pair(word, "-p");
    params[name] = inferCliValue(value, name);
  }
  for (const word of flags.parametersRaw ?? []) {
    const [name, value] = pair(word, "-r");
    params[name] = value;
  }
  if (flags.notifUp?.length) params.notif_up = flags.notifUp;
  if (flags.notifDown?.length) params.notif_down = flags.notifDown;
  if (flags.nextUrl !== undefined) params.next_url = flags.nextUrl;
  if (flags.inline) params.inline = true;
  return params;
}

export function addCommand(): Command {
  return withServerOptions(
    new Command("add")
      .description(
        "deploy a notebook as a webhook and print its URL; deploying it again adds a version (same URL)",
      )
      .argument("<notebook>", "the .ipynb file")
      .option(
        "--name <name>",
        "the webhook's name, its identity (letters, digits, . _ - @ + /; at most 200 characters); " +
          "default: the notebook's absolute path, or the name it was deployed under before",
      )
      .option(
        "--cors <origin>",
        "let web pages of this origin (https://example.com) call the webhook URL and read its answer; " +
          "* for any page (repeatable)",
        collect,
      )
      .option("--notif-up <address>", "email this address after each successful run (repeatable)", collect)
      .option("--notif-down <address>", "email this address when a run fails (repeatable)", collect)
      .option("--next-url <url>", "redirect callers to this absolute http(s) URL after the run")
      .option(
        "--inline",
        "answer in the browser instead of as a download (no Content-Disposition: attachment)",
      )
      .option(
        "-p, --parameters <name value>",
        "a parameter injected into every run; the type is inferred as papermill does",
        collect,
      )
      .option(
        "-r, --parameters-raw <name value>",
        "a parameter injected into every run, kept as a string",
        collect,
      )
      .option("--debug-runs", "the server logs each run's parameters, cell progress and errors")
      .addOption(
        new Option("--timeout <seconds>", "run time limit (default: the server's, 300 s)").argParser(
          secondsFlag("--timeout"),
        ),
      )
      .option(
        "--file <path>",
        "a dependency file deployed beside the notebook, e.g. data it reads (repeatable)",
        collect,
      )
      .addOption(
        new Option(
          "--mode <mode>",
          "how calls get a kernel: isolated (fresh kernel per call), setup (cells tagged `setup` run ahead), " +
            "reuse (one kernel serves calls in turn: fastest, state can leak between calls)",
        )
          .choices(RUN_MODES)
          .default("isolated"),
      )
      .addOption(
        new Option(
          "--max-concurrency <n>",
          "calls of this webhook running at once; more wait in the queue",
        ).argParser(wholeNumberFlag("--max-concurrency", 1)),
      )
      .addOption(
        new Option(
          "--reuse-calls <n>",
          "reuse mode: calls one kernel serves before it is replaced (default 100)",
        ).argParser(wholeNumberFlag("--reuse-calls", 1)),
      )
      .addHelpText(
        "after",
        "\nA webhook is known by its name (--name), by default the notebook's absolute path: deploying the\n" +
          "same path again adds a version. Two people deploying the same path from two machines should each\n" +
          "give a --name; an add that becomes a new version of a webhook last deployed from another machine\n" +
          "or path says so on stderr.\n" +
          "--cors lets a web page call the URL from a browser (fetch); * allows any page: anyone who knows the\n" +
          "URL can already call it, * only lets pages read the answer too.\n" +
          "\nEach add sets the webhook's settings anew: options left out go back to their defaults.\n" +
          "A dependency inside the notebook's folder keeps its relative path; others keep their file name.\n" +
          "\nModes (docs/modes.md):\n" +
          "  isolated  every call runs the whole notebook on a fresh kernel; nothing survives between calls\n" +
          "  setup     cells tagged `setup` run ahead, once per prepared kernel (alone, in order, before the\n" +
          "            parameters); each call runs the other cells on a kernel of its own, then discarded.\n" +
          "            A failing setup cell fails the call (500) and is retried with a backoff\n" +
          "  reuse     one kernel per version serves calls one at a time and keeps its state between them\n" +
          "            (globals, even earlier callers' parameters: never for different users' data);\n" +
          "            replaced after --reuse-calls calls or any failed call\n" +
          "A new version (or delete) shuts the prepared kernels down; Python and Deno kernels only.",
      ),
  ).action(async (notebook: string, flags: AddFlags) => {
    const client = await clientFor(flags);
    const result = await client.add(notebook, {
      name: flags.name,
      cors: flags.cors,
      params: paramsOf(flags),
      debug: flags.debugRuns ?? false,
      timeoutS: flags.timeout,
      files: flags.file ?? [],
      mode: flags.mode,
      maxConcurrency: flags.maxConcurrency,
      reuseCalls: flags.reuseCalls,
    });
    if (flags.json) {
      printJson(result);
      return;
    }
    process.stdout.write(result.webhook.url + "\n");
    const where = describeWebhook(result.webhook);
    if (result.previous) {
      const before = result.previous;
      process.stderr.write(
        `nbhook: warning: the webhook ${result.webhook.name} was deployed from ` +
          `${before.host === null ? "an unknown host" : `host ${before.host}`} as ${before.path}; ` +
          `this deploy (from ${hostname()} as ${absolutePath(notebook)}) is its version ${result.versions} ` +
          `(${result.version.histo}), at the same URL. To keep both, deploy with another --name.\n`,
      );
    }
    process.stderr.write(
      result.created
        ? `nbhook: deployed ${where} (version ${result.version.histo}); call the URL above to run it\n`
        : `nbhook: new version ${result.version.histo} of ${where} (same URL)\n`,
    );
  });
}
