/**
 * `nbhook call <notebook|url>`: call a webhook and print its answer — status and content type on
 * stderr, the body on stdout or in `-o FILE`. The webhook is given by its URL, or by the path of
 * its notebook (looked up on the server, as the other management commands do). Parameters are
 * typed as `nbhook run -p` types them; scalars travel in a GET's query, structured values (lists,
 * dicts, None) as a POST's JSON body (SDK `call`, src/client/webhook-call.ts).
 */
import { Command, Option } from "commander";
import { stripAnsi } from "../notebook/ansi.js";
import { writeFileAtomic } from "../notebook/read.js";
import type { CallAnswer } from "../client/index.js";
import { EXIT } from "./exit-codes.js";
import { secondsFlag } from "./flag-values.js";
import { collectParameters, type ParameterFlags } from "./run-command.js";
import { clientFor, type ServerFlags } from "./server-options.js";
import { DEFAULT_SERVER_URL } from "../client/index.js";

interface CallFlags extends ParameterFlags, ServerFlags {
  async?: boolean;
  post?: boolean;
  output?: string;
  timeout?: number;
  quiet?: boolean;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function callCommand(): Command {
  return new Command("call")
    .description(
      "call a webhook (by its notebook's path or its URL) and print the answer: status and content type on stderr, body on stdout",
    )
    .argument(
      "<notebook|url>",
      "the deployed notebook's path, or the webhook URL (http(s)://HOST/notebook/TOKEN)",
    )
    .option(
      "-p, --parameters <name value>",
      "a parameter, typed as `nbhook run -p` types it (int, float, True/False, None, else str)",
      collect,
    )
    .option("-r, --parameters-raw <name value>", "a parameter kept as a string", collect)
    .option("-f, --parameters-file <file>", "parameters from a JSON or YAML file (repeatable)", collect)
    .option("-y, --parameters-yaml <yaml>", "parameters from a YAML/JSON string (repeatable)", collect)
    .option("--post", "send the parameters as a JSON body (POST) even when they are all scalars")
    .option("--async", "send `Prefer: respond-async` and poll the run to its answer (progress on stderr)")
    .option("-o, --output <file>", "write the body to this file instead of stdout")
    .addOption(
      new Option(
        "--timeout <seconds>",
        "give up after this long (default: wait for the server's answer)",
      ).argParser(secondsFlag("--timeout")),
    )
    .option("-q, --quiet", "no status line or progress on stderr (errors are still printed)")
    .option(
      "--url <url>",
      `the nbhook server, for a notebook path (env NBHOOK_URL; default ${DEFAULT_SERVER_URL})`,
    )
    .option(
      "--token <token>",
      "API token, for a notebook path (env NBHOOK_TOKEN; default: the api-token file in --home)",
    )
    .option(
      "--home <dir>",
      "the server's data folder, where its api-token file is (env NBHOOK_HOME; default ~/.nbhook)",
    )
    .option("--debug", "print each request and reply on stderr (webhook tokens masked)")
    .addHelpText(
      "after",
      "\nParameters apply in this order, later ones winning: -f, -y, -p, -r. When every value is a scalar they go\n" +
        "in the query string of a GET (the server types them by the notebook's defaults); a list, dict or None, or\n" +
        "--post, sends them all as a JSON object in a POST. A 503 busy is retried after its Retry-After (twice, 10 s at most).\n" +
        "Exit codes: 0 a 2xx or 3xx answer, 1 not found (404) or a cell failed (500 run-failed), 2 usage or another 4xx,\n" +
        "3 the run timed out (504), 5 the server could not be reached or failed (other 5xx).",
    )
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .action(async (ref: string, flags: CallFlags) => {
      process.exitCode = await callWebhookCommand(ref, flags);
    });
}

async function callWebhookCommand(ref: string, flags: CallFlags): Promise<number> {
  const params = await collectParameters(flags);
  const client = await clientFor(flags);
  const say = (line: string) => {
    if (!flags.quiet) process.stderr.write(`nbhook: ${line}\n`);
  };
  const answer = await client.call(ref, params, {
    async: flags.async,
    method: flags.post ? "POST" : undefined,
    timeoutMs: flags.timeout ? flags.timeout * 1000 : undefined,
    onProgress: (run) => {
      const took = run.duration_ms !== null ? ` in ${(run.duration_ms / 1000).toFixed(2)} s` : "";
      say(`run ${run.id} ${run.status}${took}`);
    },
  });
  if (answer.status >= 200 && answer.status <= 399) {
    const location = answer.headers.get("location");
    const run = answer.runId ? ` (run ${answer.runId})` : "";
    say(
      `${answer.status} ${answer.contentType || "(no content type)"}${location ? ` → ${location}` : ""}${run}`,
    );
    if (flags.output) {
      await writeFileAtomic(flags.output, Buffer.from(answer.body));
      say(`body (${answer.body.length} bytes) written to ${flags.output}`);
    } else {
      process.stdout.write(answer.body);
    }
    return EXIT.ok;
  }
  process.stderr.write(`nbhook: ${describeFailure(answer)}\n`);
  return exitCodeOfAnswer(answer);
}

/** `404 not-found: message`, with a failed run's error and traceback. */
function describeFailure(answer: CallAnswer): string {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed = answer.json();
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const code = typeof body?.error === "string" ? ` ${body.error}` : "";
  const message =
    typeof body?.message === "string" ? body.message : answer.text().slice(0, 500) || "(empty body)";
  const retry = answer.headers.get("retry-after");
  let line = `${answer.status}${code}: ${message}${retry ? ` (Retry-After: ${retry} s)` : ""}`;
  if (Array.isArray(body?.traceback) && body.traceback.length) {
    line += `\n${body.traceback.map((l) => stripAnsi(String(l))).join("\n")}`;
  }
  return line;
}

function exitCodeOfAnswer(answer: CallAnswer): number {
  if (answer.status === 404) return EXIT.notFound;
  if (answer.status === 500 && errorCodeOf(answer) === "run-failed") return EXIT.cellError;
  if (answer.status === 504) return EXIT.timeout;
  if (answer.status >= 400 && answer.status <= 499) return EXIT.usage;
  return EXIT.server;
}

function errorCodeOf(answer: CallAnswer): string | undefined {
  try {
    const body = answer.json() as { error?: unknown } | null;
    return typeof body?.error === "string" ? body.error : undefined;
  } catch {
    return undefined;
  }
}
