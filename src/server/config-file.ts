/**
 * @module The config file (docs/operations.md, "Config"): `nbhook.toml` or `nbhook.json`, read
 * once at start-up by config.ts, below the environment and the flags. Where it is: `--config FILE`,
 * else NBHOOK_CONFIG, else `<home>/nbhook.toml` or `<home>/nbhook.json` when one exists (the home
 * from --home, NBHOOK_HOME or the default; never from the file itself).
 *
 * Keys are the flags' names without dashes, `-` as `_` (`max_runs = 4`, `base_url = "…"`), each in
 * its flag's unit (`timeout = 30` is 30 seconds, `max_body = "10M"`); `[smtp]` holds host, port,
 * secure, user, from. The SMTP password is never read from a file (NBHOOK_SMTP_PASSWORD only).
 * A file readable by other users that holds a database password is read, with a warning.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parse as parseToml } from "smol-toml";
import { coerceError } from "../errors.js";

export const CONFIG_FILE_NAMES = ["nbhook.toml", "nbhook.json"] as const;

/** A config file as read: its keys flattened (`smtp.host`), values as the file gave them. */
export interface ConfigFile {
  path: string;
  /** How the file was found: given (--config, NBHOOK_CONFIG), or found in the home. */
  given: boolean;
  values: Map<string, unknown>;
}

/**
 * The file to read: `explicit` (--config) or NBHOOK_CONFIG, which must exist; else the home's
 * nbhook.toml or nbhook.json (not both), if any. A problem is added to `problems`.
 */
export function locateConfigFile(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
  home: string,
  problems: string[],
): { path: string; given: boolean } | undefined {
  const given = explicit
    ? { source: "--config", file: explicit }
    : env.NBHOOK_CONFIG
      ? { source: "NBHOOK_CONFIG", file: env.NBHOOK_CONFIG }
      : undefined;
  if (given) {
    const file = path.resolve(given.file);
    if (!existsSync(file)) {
      problems.push(
        `${given.source}: ${file} does not exist: give the path of an nbhook.toml or nbhook.json file`,
      );
      return undefined;
    }
    return { path: file, given: true };
  }
  const found = CONFIG_FILE_NAMES.map((name) => path.join(home, name)).filter((file) => existsSync(file));
  if (found.length > 1) {
    problems.push(`both ${found.join(" and ")} exist: keep one of them (nbhook reads one config file)`);
    return undefined;
  }
  return found[0] ? { path: found[0], given: false } : undefined;
}

/** Reads and parses the file (TOML unless it ends in .json); undefined, with a problem, when it cannot. */
export function readConfigFile(
  location: { path: string; given: boolean },
  problems: string[],
): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(location.path, "utf8");
  } catch (err) {
    problems.push(
      `${location.path}: cannot be read (${coerceError(err).message}): fix its permissions or pass another with --config`,
    );
    return undefined;
  }
  const json = location.path.toLowerCase().endsWith(".json");
  let data: unknown;
  try {
    data = json ? JSON.parse(text) : parseToml(text);
  } catch (err) {
    const why = coerceError(err).message.replace(/\s+/g, " ").trim();
    problems.push(`${location.path}: not valid ${json ? "JSON" : "TOML"}: ${why}`);
    return undefined;
  }
  if (!isTable(data)) {
    problems.push(`${location.path}: must hold an object of settings (e.g. {"port": 5000})`);
    return undefined;
  }
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(data)) {
    if (isTable(value)) {
      for (const [inner, innerValue] of Object.entries(value)) values.set(`${key}.${inner}`, innerValue);
    } else {
      values.set(key, value);
    }
  }
  return { path: location.path, given: location.given, values };
}

/** Whether others than the file's owner may read it (group or other read bits). */
export function readableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0;
  } catch {
    return false;
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
