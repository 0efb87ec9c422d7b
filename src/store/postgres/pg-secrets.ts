/**
 * @module The secrets of the Postgres store (the `secrets` table): ciphertexts made by the server
 * (runs/secret-box.ts), never values. A global secret has `webhook_id` '' (so the primary key
 * holds for it too); the API sees null. PgStore delegates its secret methods here. Times are the
 * database server's clock.
 */
import { z } from "zod";
import type { NewSecret, SecretInfo, StoredSecret } from "../types.js";
import type { Queryable } from "./connection.js";
import { DB_NOW } from "./pg-runs.js";

const time = z.date().transform((d) => d.toISOString());
const infoRow = z.object({
  name: z.string(),
  webhook_id: z.string(),
  key_id: z.string(),
  created_at: time,
  updated_at: time,
});
const storedRow = infoRow.extend({ ciphertext: z.instanceof(Buffer) });

function parse<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new Error(
    `the nbhook database is damaged: a row of table "secrets" has bad fields (${result.error.message}). ` +
      `Delete that secret (\`nbhook secrets delete NAME\`) and set it again.`,
  );
}

function toInfo(row: z.output<typeof infoRow>): SecretInfo {
  return {
    name: row.name,
    webhookId: row.webhook_id === "" ? null : row.webhook_id,
    keyId: row.key_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const INFO_COLUMNS = "name, webhook_id, key_id, created_at, updated_at";

export class PgSecrets {
  constructor(private readonly db: Queryable) {}

  async put(input: NewSecret): Promise<SecretInfo> {
    const { rows } = await this.db.query(
      `INSERT INTO secrets (name, webhook_id, ciphertext, key_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, ${DB_NOW}, ${DB_NOW})
         ON CONFLICT (name, webhook_id) DO UPDATE SET
           ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at
         RETURNING ${INFO_COLUMNS}`,
      [input.name, input.webhookId ?? "", input.ciphertext, input.keyId],
    );
    return toInfo(parse(infoRow, rows[0]));
  }

  async list(): Promise<SecretInfo[]> {
    const { rows } = await this.db.query(`SELECT ${INFO_COLUMNS} FROM secrets ORDER BY name, webhook_id`);
    return rows.map((raw) => toInfo(parse(infoRow, raw)));
  }

  async forWebhook(webhookId: string): Promise<StoredSecret[]> {
    const { rows } = await this.db.query(
      `SELECT ${INFO_COLUMNS}, ciphertext FROM secrets WHERE webhook_id IN ('', $1) ORDER BY name, webhook_id`,
      [webhookId],
    );
    return rows.map((raw) => {
      const row = parse(storedRow, raw);
      return { ...toInfo(row), ciphertext: row.ciphertext };
    });
  }

  async delete(name: string, webhookId: string | null): Promise<boolean> {
    const { rowCount } = await this.db.query("DELETE FROM secrets WHERE name = $1 AND webhook_id = $2", [
      name,
      webhookId ?? "",
    ]);
    return (rowCount ?? 0) > 0;
  }
}
