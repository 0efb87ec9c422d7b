/**
 * nbhook's version, read from its own package.json at run time (the file is one folder up from
 * this module both in src/ and in dist/, in a checkout and in the installed package), so
 * `nbhook --version` says what is installed.
 */
import { readFileSync } from "node:fs";

let version: string | undefined;

export function packageVersion(): string {
  if (version === undefined) {
    const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
    version = String((JSON.parse(text) as { version?: unknown }).version ?? "unknown");
  }
  return version;
}
