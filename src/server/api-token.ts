/**
 * The management API's bearer token: generated at first start, kept in `<home>/api-token`
 * (mode 0600), so CLI commands on the same machine find it without configuration.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { apiTokenFile } from "../home.js";

export async function loadOrCreateApiToken(home: string): Promise<string> {
  const file = apiTokenFile(home);
  try {
    const token = (await readFile(file, "utf8")).trim();
    if (token) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(home, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString("base64url");
  await writeFile(file, token + "\n", { mode: 0o600, flag: "wx" }).catch(
    async (err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err; // another process won the race: use its token
    },
  );
  return (await readFile(file, "utf8")).trim();
}

/** Keeps `token` as the home's API token (a cluster's, shared by its nodes through Postgres). */
export async function saveApiToken(home: string, token: string): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(apiTokenFile(home), token + "\n", { mode: 0o600 });
}

/** Constant-time check of an `Authorization: Bearer …` header. */
export function isAuthorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
