/**
 * @module The JSON shapes of `/api/tokens` (docs/api.md, "Tokens"): the server builds these
 * replies and the SDK checks them. A token's secret appears once, in the answer that creates it.
 */
import { z } from "zod";

export const tokenScopeSchema = z.enum(["read", "deploy", "admin"]);

export const apiTokenJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  scope: tokenScopeSchema,
  /** The webhooks it is limited to (`name`, `path` null for one no longer known); empty: all webhooks. */
  webhooks: z.array(z.object({ id: z.string(), name: z.string().nullable(), path: z.string().nullable() })),
  created_at: z.string(),
  /** Kept to within a minute; null: never used. */
  last_used_at: z.string().nullable(),
});
export type ApiTokenJson = z.infer<typeof apiTokenJsonSchema>;

/** `POST /api/tokens`: the token itself, shown this once. */
export const createdTokenSchema = apiTokenJsonSchema.extend({
  token: z.string().describe("The token: shown once, never again (the server keeps its SHA-256 only)"),
});
export type CreatedTokenJson = z.infer<typeof createdTokenSchema>;

export const tokenListSchema = z.object({ tokens: z.array(apiTokenJsonSchema) });
export type TokenListJson = z.infer<typeof tokenListSchema>;

export const revokedTokenSchema = z.object({ revoked: z.literal(true), token: apiTokenJsonSchema });
export type RevokedTokenJson = z.infer<typeof revokedTokenSchema>;
