/**
 * @module The API tokens and server keys of the embedded store (`api_tokens`, `server_keys`).
 * SqliteStore delegates its token methods here. Only the SHA-256 of a token is written.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import type { ApiToken, ApiTokenStore, NewApiToken } from "../api-token-types.js";
import { nameTaken, parseApiTokenRow, sameToken, toApiToken, webhookIdsSchema } from "../api-token-rows.js";
import { inTransaction } from "./database.js";
import { now } from "./rows.js";

type Sql = (text: string) => Database.Statement;

function rowOf(raw: unknown) {
  if (raw === undefined) return undefined;
  const record = raw as Record<string, unknown>;
  const ids =
    typeof record.webhook_ids === "string" ? (JSON.parse(record.webhook_ids) as unknown) : undefined;
  return parseApiTokenRow({ ...record, webhook_ids: ids }, "nbhook.db");
}

export class SqliteTokens implements ApiTokenStore {
  constructor(
    private readonly db: Database.Database,
    private readonly sql: Sql,
  ) {}

  private liveByName(name: string) {
    return rowOf(this.sql("SELECT * FROM api_tokens WHERE name = ? AND revoked_at IS NULL").get(name));
  }

  private insert(input: NewApiToken): ApiToken {
    if (this.liveByName(input.name)) throw new AppError("conflict", nameTaken(input.name));
    const id = randomUUID();
    this.sql(
      `INSERT INTO api_tokens (id, name, scope, webhook_ids, token_sha256, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      input.name,
      input.scope,
      JSON.stringify(webhookIdsSchema.parse(input.webhookIds)),
      input.hash,
      now(),
    );
    return toApiToken(rowOf(this.sql("SELECT * FROM api_tokens WHERE id = ?").get(id))!);
  }

  async createApiToken(
    input: NewApiToken,
    options: { onlyIfNone?: boolean } = {},
  ): Promise<ApiToken | undefined> {
    return inTransaction(this.db, () => {
      if (options.onlyIfNone && this.sql("SELECT 1 FROM api_tokens LIMIT 1").get() !== undefined)
        return undefined;
      return this.insert(input);
    });
  }

  async putApiToken(input: NewApiToken): Promise<{ token: ApiToken; changed: boolean }> {
    return inTransaction(this.db, () => {
      const live = this.liveByName(input.name);
      if (live && sameToken(live, input)) return { token: toApiToken(live), changed: false };
      if (live) this.sql("UPDATE api_tokens SET revoked_at = ? WHERE id = ?").run(now(), live.id);
      // The same token kept under another name is revoked too: one token, one record.
      this.sql("UPDATE api_tokens SET revoked_at = ? WHERE token_sha256 = ? AND revoked_at IS NULL").run(
        now(),
        input.hash,
      );
      return { token: this.insert(input), changed: true };
    });
  }

  async findApiTokenByHash(hash: string): Promise<(ApiToken & { hash: string }) | undefined> {
    const row = rowOf(
      this.sql("SELECT * FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL").get(hash),
    );
    return row && { ...toApiToken(row), hash: row.token_sha256 };
  }

  async getApiToken(id: string): Promise<ApiToken | undefined> {
    const row = rowOf(this.sql("SELECT * FROM api_tokens WHERE id = ?").get(id));
    return row && toApiToken(row);
  }

  async listApiTokens(): Promise<ApiToken[]> {
    return this.sql("SELECT * FROM api_tokens WHERE revoked_at IS NULL ORDER BY name")
      .all()
      .map((raw) => toApiToken(rowOf(raw)!));
  }

  async revokeApiToken(name: string): Promise<ApiToken | undefined> {
    return inTransaction(this.db, () => {
      const live = this.liveByName(name);
      if (!live) return undefined;
      this.sql("UPDATE api_tokens SET revoked_at = ? WHERE id = ?").run(now(), live.id);
      return toApiToken(rowOf(this.sql("SELECT * FROM api_tokens WHERE id = ?").get(live.id))!);
    });
  }

  async touchApiToken(id: string, at?: string): Promise<void> {
    this.sql("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(at ?? now(), id);
  }

  async serverKey(name: string, candidate: string): Promise<string> {
    return inTransaction(this.db, () => {
      this.sql("INSERT OR IGNORE INTO server_keys (name, value) VALUES (?, ?)").run(name, candidate);
      return (this.sql("SELECT value FROM server_keys WHERE name = ?").get(name) as { value: string }).value;
    });
  }
}
