/**
 * The flags every management command shares: where the server is (--url, NBHOOK_URL), its token
 * (--token, NBHOOK_TOKEN, else the token file in --home / NBHOOK_HOME / ~/.nbhook), --json and
 * --debug; and the SDK client built from them.
 */
import path from "node:path";
import type { Command } from "commander";
import { NbhookClient, resolveConnection, DEFAULT_SERVER_URL } from "../client/index.js";

export interface ServerFlags {
  url?: string;
  token?: string;
  home?: string;
  json?: boolean;
  debug?: boolean;
}

export function withServerOptions(command: Command): Command {
  return command
    .option("--url <url>", `the nbhook server (env NBHOOK_URL; default ${DEFAULT_SERVER_URL})`)
    .option("--token <token>", "API token (env NBHOOK_TOKEN; default: the api-token file in --home)")
    .option(
      "--home <dir>",
      "the server's data folder, where its api-token file is (env NBHOOK_HOME; default ~/.nbhook)",
    )
    .option("--json", "print the API's JSON instead of text")
    .option("--debug", "print each request and reply on stderr (webhook tokens masked)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
}

export async function clientFor(flags: ServerFlags): Promise<NbhookClient> {
  const connection = await resolveConnection({ url: flags.url, token: flags.token, home: flags.home });
  return new NbhookClient({ ...connection, debug: flags.debug });
}

/** What a management command's `<notebook>` argument says (README, "Names"). */
export const WEBHOOK_ARGUMENT =
  "the webhook's name, or the notebook's path (resolved to absolute; a path deployed under several names needs the name)";

/** A webhook in messages: its name, with its path when it is named otherwise. */
export function describeWebhook(w: { name: string; path: string }): string {
  return w.name === w.path ? w.path : `${w.name} (${w.path})`;
}

/** Paths are resolved against the current folder before lookup, as Naas did. */
export function absolutePath(notebookPath: string): string {
  return path.resolve(notebookPath);
}
