/**
 * `nbhook secrets set NAME [--webhook NB]`, `nbhook secrets list`, `nbhook secrets delete NAME
 * [--webhook NB]` (docs/secrets.md). The value is never an argument (it would stay in the shell's
 * history and in `ps`): it is read from stdin when stdin is not a terminal (one trailing newline
 * stripped, so `echo "$X" | nbhook secrets set X` stores `$X`), else asked for at a prompt that does
 * not echo.
 */
import { Command } from "commander";
import type { NbhookClient, Secret } from "../client/index.js";
import { AppError } from "../errors.js";
import { clientFor, withServerOptions, type ServerFlags } from "./server-options.js";
import { formatDate, printJson, printTable } from "./table.js";

interface SecretFlags extends ServerFlags {
  webhook?: string;
}

const WEBHOOK_FLAG = "the notebook whose webhook the secret is for (default: every webhook's)";

async function webhookIdOf(client: NbhookClient, notebook: string | undefined): Promise<string | undefined> {
  return notebook === undefined ? undefined : (await client.webhook(notebook)).id;
}

/** All of stdin, less one trailing newline (`\n` or `\r\n`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** A line typed at the terminal, not echoed (raw mode: Enter ends it, Backspace erases, Ctrl-C stops). */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (finish: () => void) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      finish();
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString("utf8")) {
        if (char === "\r" || char === "\n" || char === "\u0004") return done(() => resolve(typed));
        if (char === "\u0003") return done(() => reject(new AppError("usage", "cancelled: no secret set")));
        if (char === "\u007f" || char === "\b") typed = [...typed].slice(0, -1).join("");
        else typed += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}

function where(secret: Pick<Secret, "webhook" | "webhook_name" | "webhook_path">): string {
  if (!secret.webhook) return "(every webhook)";
  return secret.webhook_name ?? secret.webhook_path ?? secret.webhook;
}

function setCommand(): Command {
  return withServerOptions(
    new Command("set")
      .description(
        "set a secret (the value from stdin, or typed at a prompt that does not echo; one trailing newline of stdin is dropped)",
      )
      .argument("<name>", "letters, digits and _ (e.g. OPENAI_KEY); notebooks read it with secret.get(NAME)")
      .option("--webhook <notebook>", WEBHOOK_FLAG),
  ).action(async (name: string, flags: SecretFlags) => {
    const client = await clientFor(flags);
    const webhookId = await webhookIdOf(client, flags.webhook);
    const value = process.stdin.isTTY ? await promptHidden(`value of ${name}: `) : await readStdin();
    if (value === "") {
      throw new AppError(
        "usage",
        'no value: pipe it in (`printf %s "$VALUE" | nbhook secrets set NAME`) or type it at the prompt',
      );
    }
    const secret = await client.setSecret(name, value, { webhookId });
    if (flags.json) printJson(secret);
    else process.stdout.write(`secret ${secret.name} set for ${where(secret)}\n`);
  });
}

function listSecretsCommand(): Command {
  return withServerOptions(
    new Command("list").description(
      "list the secrets: names, the webhook each is for, when set (never values)",
    ),
  ).action(async (flags: SecretFlags) => {
    const client = await clientFor(flags);
    const secrets = await client.listSecrets();
    if (flags.json) {
      printJson(secrets);
      return;
    }
    if (secrets.length === 0) {
      process.stdout.write("no secrets: set one with `nbhook secrets set NAME`\n");
      return;
    }
    printTable(
      ["NAME", "WEBHOOK", "UPDATED"],
      secrets.map((s) => [s.name, where(s), formatDate(s.updated_at)]),
    );
  });
}

function deleteSecretCommand(): Command {
  return withServerOptions(
    new Command("delete")
      .description("delete a secret (the global one, or with --webhook that webhook's own)")
      .argument("<name>")
      .option("--webhook <notebook>", "the notebook whose own secret to delete (default: the global one)"),
  ).action(async (name: string, flags: SecretFlags) => {
    const client = await clientFor(flags);
    const webhookId = await webhookIdOf(client, flags.webhook);
    await client.deleteSecret(name, { webhookId });
    if (flags.json) printJson({ deleted: true, name, webhook: webhookId ?? null });
    else process.stdout.write(`secret ${name} deleted${flags.webhook ? ` for ${flags.webhook}` : ""}\n`);
  });
}

export function secretsCommand(): Command {
  return new Command("secrets")
    .description(
      "secrets for notebooks, encrypted at rest, given to runs as NBHOOK_SECRET_<NAME> (docs/secrets.md)",
    )
    .addCommand(setCommand())
    .addCommand(listSecretsCommand())
    .addCommand(deleteSecretCommand())
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
}
