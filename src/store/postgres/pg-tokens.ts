/**
 * @module The API tokens and server keys of the Postgres store (`api_tokens`, `server_keys`),
 * shared by every node of a cluster. PgStore delegates its token methods here. Only the SHA-256
 * of a token is written. Writes that read first (a name taken? any token yet?) hold a transaction
 * advisory lock, so two nodes starting at once make one first admin token, not two.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { AppError } from "../../errors.js";
import type { ApiToken, ApiTokenStore, NewApiToken } from "../api-token-types.js";
import { nameTaken, parseApiTokenRow, sameToken, toApiToken } from "../api-token-rows.js";
import type { Queryable } from "./connection.js";
import { DB_NOW } from "./pg-runs.js";

const COLUMNS = "id, name, scope, webhook_ids, token_sha256, created_at, last_used_at, revoked_at";
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('nbhook api_tokens'))";

function rowOf(raw: unknown) {
  if (raw === undefined) return undefined;
  const record = raw as Record<string, unknown>;
  const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : value);
  return parseApiTokenRow(
    {
      ...record,
      created_at: iso(record.created_at),
      last_used_at: iso(record.last_used_at),
      revoked_at: iso(record.revoked_at),
    },
    "the Postgres database",
  );
}

export class PgTokens implements ApiTokenStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly transaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  private async liveByName(client: Queryable, name: string) {
    const { rows } = await client.query(
      `SELECT ${COLUMNS} FROM api_tokens WHERE name = $1 AND revoked_at IS NULL`,
      [name],
    );
    return rowOf(rows[0]);
  }

  private async insert(client: Queryable, input: NewApiToken): Promise<ApiToken> {
    if (await this.liveByName(client, input.name)) throw new AppError("conflict", nameTaken(input.name));
    const { rows } = await client.query(
      `INSERT INTO api_tokens (id, name, scope, webhook_ids, token_sha256, created_at)
         VALUES ($1, $2, $3, $4::jsonb, $5, ${DB_NOW}) RETURNING ${COLUMNS}`,
      [randomUUID(), input.name, input.scope, JSON.stringify(input.webhookIds), input.hash],
    );
    return toApiToken(rowOf(rows[0])!);
  }

  async createApiToken(
    input: NewApiToken,
    options: { onlyIfNone?: boolean } = {},
  ): Promise<ApiToken | undefined> {
    return this.transaction(async (client) => {
      await client.query(LOCK);
      if (options.onlyIfNone && ((await client.query("SELECT 1 FROM api_tokens LIMIT 1")).rowCount ?? 0) > 0)
        return undefined;
      return this.insert(client, input);
    });
  }

  async putApiToken(input: NewApiToken): Promise<{ token: ApiToken; changed: boolean }> {
    return this.transaction(async (client) => {
      await client.query(LOCK);
      const live = await this.liveByName(client, input.name);
      if (live && sameToken(live, input)) return { token: toApiToken(live), changed: false };
      await client.query(
        `UPDATE api_tokens SET revoked_at = ${DB_NOW} WHERE (name = $1 OR token_sha256 = $2) AND revoked_at IS NULL`,
        [input.name, input.hash],
      );
      return { token: await this.insert(client, input), changed: true };
    });
  }

  async findApiTokenByHash(hash: string): Promise<(ApiToken & { hash: string }) | undefined> {
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS} FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rowOf(rows[0]);
    return row && { ...toApiToken(row), hash: row.token_sha256 };
  }

  async getApiToken(id: string): Promise<ApiToken | undefined> {
    const { rows } = await this.pool.query(`SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
    const row = rowOf(rows[0]);
    return row && toApiToken(row);
  }

  async listApiTokens(): Promise<ApiToken[]> {
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY name COLLATE "C"`,
    );
    return rows.map((raw) => toApiToken(rowOf(raw)!));
  }

  async revokeApiToken(name: string): Promise<ApiToken | undefined> {
    const { rows } = await this.pool.query(
      `UPDATE api_tokens SET revoked_at = ${DB_NOW} WHERE name = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
      [name],
    );
    const row = rowOf(rows[0]);
    return row && toApiToken(row);
  }

  async touchApiToken(id: string, at?: string): Promise<void> {
    await this.pool.query(
      `UPDATE api_tokens SET last_used_at = ${at === undefined ? DB_NOW : "$2::timestamptz"} WHERE id = $1`,
      at === undefined ? [id] : [id, at],
    );
  }

  async serverKey(name: string, candidate: string): Promise<string> {
    await this.pool.query(
      "INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
      [name, candidate],
    );
    const { rows } = await this.pool.query<{ value: string }>(
      "SELECT value FROM server_keys WHERE name = $1",
      [name],
    );
    return rows[0]!.value;
  }
}
