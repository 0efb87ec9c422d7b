/**
 * @module The management API's tokens (docs/tokens.md): their format, how they are hashed and
 * checked, and their last-used times.
 *
 * A token is `nbh_` and 32 random bytes in base64url: the prefix lets people and secret scanners
 * tell it from a webhook token (which has none). The store keeps its SHA-256 only.
 *
 * Why SHA-256 and not bcrypt or argon2: those slow hashes exist to protect low-entropy secrets
 * (passwords) from guessing once the hashes leak. A token made here carries 256 random bits, so
 * guessing a preimage of its SHA-256 is as hopeless as guessing the token itself; a slow hash would
 * only add tens of milliseconds to every API request. (NBHOOK_ADMIN_TOKEN and imported tokens
 * must be at least 32 characters for the same reason.) The lookup is by hash, which also keeps the
 * comparison with the given token off any timing the token itself could leak; the hash found is
 * compared once more with timingSafeEqual.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { ApiToken, Store, TokenScope } from "../store/index.js";

export const TOKEN_PREFIX = "nbh_";

/** The shortest token the server accepts from outside (NBHOOK_ADMIN_TOKEN, an imported api-token). */
export const MIN_TOKEN_LENGTH = 32;

/** A new API token: `nbh_` + 32 random bytes, base64url (47 characters). */
export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** The hex SHA-256 the store keeps of a token. */
export function hashApiToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

const RANK: Record<TokenScope, number> = { read: 0, deploy: 1, admin: 2 };

/** Whether a token of scope `have` may do what needs `need`. */
export function scopeAllows(have: TokenScope, need: TokenScope): boolean {
  return RANK[have] >= RANK[need];
}

/** How often a token's last-used time is written at most: one write a minute, whatever the traffic. */
export const TOUCH_INTERVAL_MS = 60_000;

/** Checks tokens against the store, and keeps their last-used times (cheaply). */
export class ApiTokens {
  /** Token id → when its last-used time was last written (ms). One entry per token: bounded. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** The live token `given` is, or undefined. */
  async verify(given: string): Promise<ApiToken | undefined> {
    if (given.length === 0 || given.length > 1024) return undefined;
    const hash = hashApiToken(given);
    const found = await this.store.findApiTokenByHash(hash);
    if (!found) return undefined;
    const expected = Buffer.from(found.hash, "hex");
    const actual = Buffer.from(hash, "hex");
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    const token: ApiToken = {
      id: found.id,
      name: found.name,
      scope: found.scope,
      webhookIds: found.webhookIds,
      createdAt: found.createdAt,
      lastUsedAt: found.lastUsedAt,
      revokedAt: found.revokedAt,
    };
    this.used(token);
    return token;
  }

  /** The live token of that id (a session's), or undefined once it was revoked. */
  async live(id: string, options: { touch?: boolean } = {}): Promise<ApiToken | undefined> {
    const token = await this.store.getApiToken(id);
    if (!token || token.revokedAt !== null) return undefined;
    if (options.touch) this.used(token);
    return token;
  }

  /**
   * Notes a use: at most one store write per token and minute, not waited for (a request does
   * not wait on it, and a failed write is only logged).
   */
  private used(token: ApiToken, nowMs = Date.now()): void {
    const last = this.touched.get(token.id);
    if (last !== undefined && nowMs - last < TOUCH_INTERVAL_MS) return;
    this.touched.set(token.id, nowMs);
    this.store.touchApiToken(token.id).catch((err: unknown) => {
      this.log.warn({ err, token: token.name }, "could not record when an API token was last used");
    });
  }
}
