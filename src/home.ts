/**
 * @module The data folder (`--home`, NBHOOK_HOME, default ~/.nbhook) as the server and the command
 * line clients on its machine both know it: where it is, and where the server keeps its API token.
 */
import os from "node:os";
import path from "node:path";

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.NBHOOK_HOME || path.join(os.homedir(), ".nbhook");
}

/** The management API's token, written by the server at first start (mode 0600). */
export function apiTokenFile(home: string): string {
  return path.join(home, "api-token");
}
