/**
 * @module The first admin token, and the local CLI's credential (docs/tokens.md).
 *
 * At start, before the API listens:
 * 1. a store that never held a token, in a home with an `api-token` file (or a cluster whose old
 *    shared token is in Postgres) is an upgrade: that token is imported, hashed, as the `admin`
 *    token, so every script and CLI that used it keeps working;
 * 2. with NBHOOK_ADMIN_TOKEN, that token is registered (hashed) as the `admin` token; a different
 *    one than last time replaces it (the old one stops working, its sessions end);
 * 3. else a store that never held a token gets a new `admin` token: printed once (`nbhook serve`'s
 *    banner) and written once to `<home>/api-token` (0600) for the CLI on this machine, which reads
 *    it with no configuration. The server never reads that file to check a request: only the
 *    hashes in the store count. Deleting the file (after saving the token elsewhere) is safe.
 * Later starts create nothing and print no token.
 */
import { timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import type { FastifyBaseLogger } from "fastify";
import { AppError } from "../errors.js";
import { apiTokenFile } from "../home.js";
import type { Store } from "../store/index.js";
import { hashApiToken, MIN_TOKEN_LENGTH, newApiToken } from "./tokens.js";

/** The name of the first admin token (and of NBHOOK_ADMIN_TOKEN's). */
export const ADMIN_TOKEN_NAME = "admin";

export interface AdminTokenStart {
  /**
   * The admin token in plain text when this start knows it: created, imported or given by
   * NBHOOK_ADMIN_TOKEN now, else what `<home>/api-token` holds (what the local CLI will send).
   * "" when unknown. Never used to check a request.
   */
  token: string;
  /** Made by this start (the one time it is shown). */
  created: boolean;
  /** Imported from an older nbhook's api-token (file or cluster setting). */
  imported: boolean;
}

export interface AdminTokenOptions {
  /** NBHOOK_ADMIN_TOKEN. */
  envToken?: string;
  /** A cluster's old shared token (nbhook_settings `api_token`), taken once imported. */
  legacy?: { read(): Promise<string | undefined>; forget(): Promise<void> };
  log: FastifyBaseLogger;
}

export async function startAdminToken(
  store: Store,
  home: string,
  options: AdminTokenOptions,
): Promise<AdminTokenStart> {
  const file = apiTokenFile(home);
  const fileToken = await readTokenFile(file);
  let imported = false;
  let known: string | undefined;
  // 1. An upgrade: the token an older nbhook made (a cluster's shared one first).
  const legacy = (await options.legacy?.read()) ?? fileToken;
  if (legacy !== undefined) {
    const made = await store.createApiToken(
      { name: ADMIN_TOKEN_NAME, scope: "admin", webhookIds: [], hash: hashApiToken(legacy) },
      { onlyIfNone: true },
    );
    if (made) {
      imported = true;
      known = legacy;
      if (legacy.length < MIN_TOKEN_LENGTH) {
        // Kept, since scripts use it; but a short token can be guessed from its hash.
        options.log.warn(
          { token: ADMIN_TOKEN_NAME, length: legacy.length },
          `the imported API token is shorter than ${MIN_TOKEN_LENGTH} characters: replace it (nbhook tokens create, then revoke "admin")`,
        );
      }
      options.log.info(
        { token: ADMIN_TOKEN_NAME },
        "the API token of an older nbhook was imported as the admin token (kept hashed)",
      );
    }
  }
  await options.legacy?.forget(); // imported now or before: the plain text leaves the database
  // 2. NBHOOK_ADMIN_TOKEN.
  if (options.envToken !== undefined) {
    checkEnvToken(options.envToken);
    const put = await store.putApiToken({
      name: ADMIN_TOKEN_NAME,
      scope: "admin",
      webhookIds: [],
      hash: hashApiToken(options.envToken),
    });
    if (put.changed)
      options.log.info({ token: ADMIN_TOKEN_NAME }, "NBHOOK_ADMIN_TOKEN registered as the admin token");
    return { token: options.envToken, created: false, imported };
  }
  if (known !== undefined) return { token: known, created: false, imported };
  // 3. The first start: a new admin token, shown once.
  const token = newApiToken();
  const made = await store.createApiToken(
    { name: ADMIN_TOKEN_NAME, scope: "admin", webhookIds: [], hash: hashApiToken(token) },
    { onlyIfNone: true },
  );
  if (!made) return { token: fileToken ?? "", created: false, imported: false };
  await mkdir(home, { recursive: true, mode: 0o700 });
  // Never over another file: one that was there would have been imported above.
  await writeFile(file, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, created: true, imported: false };
}

function checkEnvToken(token: string): void {
  if (token.trim() !== token || /\s/.test(token) || token.length < MIN_TOKEN_LENGTH) {
    throw new AppError(
      "usage",
      `NBHOOK_ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters without spaces (got ${token.length}): ` +
        "make one with `openssl rand -base64 32`, or leave it unset for a token made at the first start",
    );
  }
}

async function readTokenFile(file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, "utf8")).trim();
    return token || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Constant-time check of an `Authorization: Bearer …` header against one token (a webhook's). */
export function isAuthorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
