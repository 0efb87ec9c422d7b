/**
 * `nbhook tokens create|list|revoke`: named API tokens with scopes (docs/tokens.md). Admin only.
 * `create` prints the token, and nothing else, on stdout: `TOKEN=$(nbhook tokens create ci --scope deploy)`.
 */
import { Command, Option } from "commander";
import type { ApiToken } from "../client/index.js";
import { clientFor, withServerOptions, type ServerFlags } from "./server-options.js";
import { formatDate, printJson, printTable } from "./table.js";

interface CreateFlags extends ServerFlags {
  scope: "read" | "deploy" | "admin";
  webhook?: string[];
}

function webhooksOf(token: ApiToken): string {
  return token.webhooks.length === 0
    ? "(all)"
    : token.webhooks.map((w) => w.name ?? w.path ?? w.id).join(", ");
}

export function tokensCommand(): Command {
  const create = withServerOptions(
    new Command("create")
      .description("make a named API token and print it, once (stdout: the token only)")
      .argument("<name>", "unique among live tokens: letters, digits, '.', '_', '-'")
      .addOption(
        new Option(
          "--scope <scope>",
          "read: list and read; deploy: also add, update, delete webhooks; admin: everything",
        )
          .choices(["read", "deploy", "admin"])
          .makeOptionMandatory(),
      )
      .option(
        "--webhook <notebook>",
        "limit a read or deploy token to this deployed notebook's webhook (repeat for more)",
        (value: string, previous: string[] = []) => [...previous, value],
      ),
  ).action(async (name: string, flags: CreateFlags) => {
    const client = await clientFor(flags);
    const webhooks: string[] = [];
    for (const notebook of flags.webhook ?? []) webhooks.push((await client.webhook(notebook)).id);
    const made = await client.createToken(name, { scope: flags.scope, webhooks });
    if (flags.json) {
      printJson(made);
      return;
    }
    process.stdout.write(made.token + "\n");
    process.stderr.write(
      `nbhook: token ${JSON.stringify(made.name)} (${made.scope}, webhooks ${webhooksOf(made)}): ` +
        "shown this once, the server keeps only its hash; revoke it with " +
        `\`nbhook tokens revoke ${made.name}\`\n`,
    );
  });

  const list = withServerOptions(
    new Command("list").description(
      "list the live API tokens: name, scope, webhooks, created, last used (never the tokens)",
    ),
  ).action(async (flags: ServerFlags) => {
    const tokens = await (await clientFor(flags)).listTokens();
    if (flags.json) {
      printJson(tokens);
      return;
    }
    printTable(
      ["NAME", "SCOPE", "WEBHOOKS", "CREATED", "LAST USED"],
      tokens.map((t) => [
        t.name,
        t.scope,
        webhooksOf(t),
        formatDate(t.created_at),
        t.last_used_at ? formatDate(t.last_used_at) : "never",
      ]),
    );
  });

  const revoke = withServerOptions(
    new Command("revoke")
      .description("revoke an API token at once: its requests and dashboard sessions are refused from now on")
      .argument("<name>"),
  ).action(async (name: string, flags: ServerFlags) => {
    const token = await (await clientFor(flags)).revokeToken(name);
    if (flags.json) {
      printJson({ revoked: true, token });
      return;
    }
    process.stdout.write(`revoked the token ${JSON.stringify(token.name)} (${token.scope})\n`);
  });

  return new Command("tokens")
    .description("named API tokens with scopes (admin, deploy, read): create, list, revoke")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addCommand(create)
    .addCommand(list)
    .addCommand(revoke);
}
