/**
 * @module The management API's tokens as the store keeps them (docs/tokens.md): a name, a scope,
 * the webhooks it is limited to, times, and the SHA-256 of the token, never the token itself.
 * Hashing and checking a token is the server's (server/tokens.ts); the store finds a row by hash.
 */

/** What a token may do, from least to most: `read` < `deploy` < `admin`. */
export const TOKEN_SCOPES = ["read", "deploy", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface ApiToken {
  id: string;
  /** Unique among live (not revoked) tokens. */
  name: string;
  scope: TokenScope;
  /** The webhooks it is limited to; empty: all of them. */
  webhookIds: string[];
  createdAt: string;
  /** Kept to within a minute (server/tokens.ts). */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface NewApiToken {
  name: string;
  scope: TokenScope;
  webhookIds: string[];
  /** Hex SHA-256 of the token. */
  hash: string;
}

/** The token methods of the Store (both implementations; src/store/conformance/tokens.conformance.ts). */
export interface ApiTokenStore {
  /**
   * Keeps a new token. A live token of the same name is a conflict (AppError "conflict"). With
   * `onlyIfNone`, nothing is kept (undefined) when the store has ever held a token, revoked ones
   * included: how the first admin token is made once, by one node of a cluster.
   */
  createApiToken(input: NewApiToken, options?: { onlyIfNone?: boolean }): Promise<ApiToken | undefined>;
  /**
   * The live token named `input.name` becomes `input`: kept as it is when its hash, scope and
   * webhooks are the same, else revoked and replaced by a new one (its sessions end). Created
   * when there is none. For NBHOOK_ADMIN_TOKEN, registered at every start.
   */
  putApiToken(input: NewApiToken): Promise<{ token: ApiToken; changed: boolean }>;
  /** The live token with this hash, and its hash (to compare in constant time). */
  findApiTokenByHash(hash: string): Promise<(ApiToken & { hash: string }) | undefined>;
  /** A token by id, revoked ones too. */
  getApiToken(id: string): Promise<ApiToken | undefined>;
  /** Live tokens, by name. */
  listApiTokens(): Promise<ApiToken[]>;
  /** Revokes the live token of that name at once; undefined when there is none. */
  revokeApiToken(name: string): Promise<ApiToken | undefined>;
  /** Sets a token's last-used time (ISO; the store's clock when left out). */
  touchApiToken(id: string, at?: string): Promise<void>;
  /**
   * A server-wide key named `name`: the one kept, or `candidate` kept now if there is none (the
   * first caller's wins, so every node of a cluster gets the same). The dashboard's session
   * signing key is one.
   */
  serverKey(name: string, candidate: string): Promise<string>;
}
