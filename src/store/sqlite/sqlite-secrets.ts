/**
 * @module The secrets of the embedded store (the `secrets` table): ciphertexts made by the server
 * (runs/secret-box.ts), never values. A global secret has `webhook_id` '' (so the primary key
 * holds for it too); the API sees null. SqliteStore delegates its secret methods here.
 */
import type Database from "better-sqlite3";
import { z } from "zod";
import type { NewSecret, SecretInfo, StoredSecret } from "../types.js";
import { inTransaction } from "./database.js";
import { now } from "./rows.js";

const infoRow = z.object({
  name: z.string(),
  webhook_id: z.string(),
  key_id: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
const storedRow = infoRow.extend({ ciphertext: z.instanceof(Buffer) });

function parse<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new Error(
    `nbhook.db is damaged: a row of table "secrets" has bad fields (${result.error.message}). ` +
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

export class SqliteSecrets {
  constructor(
    private readonly db: Database.Database,
    private readonly sql: (text: string) => Database.Statement,
  ) {}

  put(input: NewSecret): SecretInfo {
    const scope = input.webhookId ?? "";
    const stamp = now();
    return inTransaction(this.db, () => {
      this.sql(
        `INSERT INTO secrets (name, webhook_id, ciphertext, key_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (name, webhook_id) DO UPDATE SET
             ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at`,
      ).run(input.name, scope, input.ciphertext, input.keyId, stamp, stamp);
      const raw = this.sql(`SELECT ${INFO_COLUMNS} FROM secrets WHERE name = ? AND webhook_id = ?`).get(
        input.name,
        scope,
      );
      return toInfo(parse(infoRow, raw));
    });
  }

  list(): SecretInfo[] {
    return this.sql(`SELECT ${INFO_COLUMNS} FROM secrets ORDER BY name, webhook_id`)
      .all()
      .map((raw) => toInfo(parse(infoRow, raw)));
  }

  forWebhook(webhookId: string): StoredSecret[] {
    return this.sql(
      `SELECT ${INFO_COLUMNS}, ciphertext FROM secrets WHERE webhook_id IN ('', ?) ORDER BY name, webhook_id`,
    )
      .all(webhookId)
      .map((raw) => {
        const row = parse(storedRow, raw);
        return { ...toInfo(row), ciphertext: row.ciphertext };
      });
  }

  delete(name: string, webhookId: string | null): boolean {
    return (
      this.sql("DELETE FROM secrets WHERE name = ? AND webhook_id = ?").run(name, webhookId ?? "").changes > 0
    );
  }
}
