/**
 * @module The `api_tokens` row as both stores read it (times already ISO strings), checked, and
 * turned into an ApiToken. A row that does not fit names the token: a damaged database must never
 * let a request in on a half-read row.
 */
import { z } from "zod";
import { TOKEN_SCOPES, type ApiToken } from "./api-token-types.js";
import { describeIssues } from "./schemas.js";

const iso = z.iso.datetime();

export const webhookIdsSchema = z.array(z.string().min(1));

export const apiTokenRowSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  scope: z.enum(TOKEN_SCOPES),
  webhook_ids: webhookIdsSchema,
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: iso,
  last_used_at: iso.nullable(),
  revoked_at: iso.nullable(),
});
export type ApiTokenRow = z.output<typeof apiTokenRowSchema>;

export function parseApiTokenRow(raw: unknown, database: string): ApiTokenRow {
  const result = apiTokenRowSchema.safeParse(raw);
  if (result.success) return result.data;
  const id = typeof raw === "object" && raw !== null && "id" in raw ? String(raw.id) : "?";
  throw new Error(
    `${database} is damaged: the row of table "api_tokens" with id ${JSON.stringify(id)} has bad fields ` +
      `(${describeIssues(result.error)}). Revoke that token (\`nbhook tokens revoke\`) or fix the row.`,
    { cause: result.error },
  );
}

export function toApiToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    webhookIds: row.webhook_ids,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** Whether a live token already is what `input` asks for (NBHOOK_ADMIN_TOKEN at a restart). */
export function sameToken(
  row: ApiTokenRow,
  input: { scope: string; webhookIds: string[]; hash: string },
): boolean {
  return (
    row.token_sha256 === input.hash &&
    row.scope === input.scope &&
    JSON.stringify([...row.webhook_ids].sort()) === JSON.stringify([...input.webhookIds].sort())
  );
}

export function nameTaken(name: string) {
  return `a token named ${JSON.stringify(name)} exists: choose another name, or revoke it first (\`nbhook tokens revoke ${name}\`)`;
}
