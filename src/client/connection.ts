/**
 * Where the server is and which token to present, for clients on the command line or in scripts:
 * flags, then the environment (NBHOOK_URL, NBHOOK_TOKEN), then the defaults: the local server and
 * the token file the server wrote in its home folder (--home, NBHOOK_HOME, ~/.nbhook). So on the
 * server's machine nothing needs configuring.
 */
import { readFile } from "node:fs/promises";
import { apiTokenFile, defaultHome } from "../home.js";

export const DEFAULT_SERVER_URL = "http://127.0.0.1:5000";

export interface ConnectionFlags {
  url?: string;
  token?: string;
  home?: string;
}

export interface Connection {
  url: string;
  /** Undefined when none was given and the token file does not exist. */
  token?: string;
}

export async function resolveConnection(
  flags: ConnectionFlags = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const url = flags.url || env.NBHOOK_URL || DEFAULT_SERVER_URL;
  const given = flags.token || env.NBHOOK_TOKEN;
  if (given) return { url, token: given.trim() };
  const home = flags.home || defaultHome(env);
  try {
    const token = (await readFile(apiTokenFile(home), "utf8")).trim();
    return { url, token: token || undefined };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") return { url };
    throw err;
  }
}
