/**
 * The part of the SDK that runs anywhere `fetch` does, a browser included (the dashboard is built
 * on it): the management API by webhook and run id, and the dashboard's session. NbhookClient
 * (client.ts) adds what needs Node: notebook paths and files on disk.
 *
 * @example
 * const api = new ApiClient({ url: "http://127.0.0.1:5000", token });
 * for (const w of await api.listWebhooks()) console.log(w.path, w.url);
 */
import {
  deletedSchema,
  deletedWebhookSchema,
  outputListSchema,
  runListSchema,
  runSchema,
  secretDeletedSchema,
  secretListSchema,
  secretSchema,
  versionListSchema,
  webhookListSchema,
  webhookParametersSchema,
  webhookSchema,
  type OutputJson as Output,
  type RunJson as Run,
  type SecretJson as Secret,
  type VersionJson as Version,
  type WebhookJson as Webhook,
  type WebhookParametersJson,
} from "../api/schemas.js";
import { sessionSchema, type SessionJson } from "../api/session-schemas.js";
import {
  createdTokenSchema,
  revokedTokenSchema,
  tokenListSchema,
  type ApiTokenJson,
  type CreatedTokenJson,
} from "../api/token-schemas.js";
import { Transport, type TransportOptions } from "./transport.js";
import { callWebhook, type CallAnswer, type CallOptions, type CallParameters } from "./webhook-call.js";

/** A downloaded notebook (a version, or a run's output) and its history id. */
export interface NotebookDownload {
  histo: string;
  text: string;
}

export class ApiClient {
  protected readonly http: Transport;

  constructor(options: TransportOptions) {
    this.http = new Transport(options);
  }

  get url(): string {
    return this.http.baseUrl;
  }

  /** Deployed webhooks; deleted ones too with `includeDeleted`. */
  async listWebhooks(options: { includeDeleted?: boolean } = {}): Promise<Webhook[]> {
    const query = { include_deleted: options.includeDeleted || undefined };
    return (await this.http.json("GET", "/api/webhooks", webhookListSchema, { query })).webhooks;
  }

  async webhookById(id: string): Promise<Webhook> {
    return this.http.json("GET", `/api/webhooks/${enc(id)}`, webhookSchema);
  }

  /** The parameters the live version's `parameters` cell defines: names, types, defaults. */
  async webhookParameters(webhookId: string): Promise<WebhookParametersJson> {
    return this.http.json("GET", `/api/webhooks/${enc(webhookId)}/parameters`, webhookParametersSchema);
  }

  /** The webhook's deployed versions, newest (live) first. */
  async versionsOf(webhookId: string): Promise<Version[]> {
    return (await this.http.json("GET", `/api/webhooks/${enc(webhookId)}/versions`, versionListSchema))
      .versions;
  }

  /** Clears one version; `force` allows the live one. Answers the cleared histos. */
  async clearVersion(webhookId: string, histo: string, options: { force?: boolean } = {}): Promise<string[]> {
    const route = `/api/webhooks/${enc(webhookId)}/versions/${enc(histo)}`;
    return (
      await this.http.json("DELETE", route, deletedSchema, { query: { force: options.force || undefined } })
    ).deleted;
  }

  /** Output notebooks of the webhook's runs, newest first. */
  async outputsOf(webhookId: string): Promise<Output[]> {
    return (await this.http.json("GET", `/api/webhooks/${enc(webhookId)}/outputs`, outputListSchema)).outputs;
  }

  /** Stops the webhook: its URL answers 404; versions, outputs and runs are kept. */
  async deleteWebhook(webhookId: string): Promise<Webhook> {
    return (await this.http.json("DELETE", `/api/webhooks/${enc(webhookId)}`, deletedWebhookSchema)).webhook;
  }

  /** Gives the webhook a new URL; the old one stops working. */
  async rotateWebhook(webhookId: string): Promise<Webhook> {
    return this.http.json("POST", `/api/webhooks/${enc(webhookId)}/rotate`, webhookSchema);
  }

  /** Recent runs, newest first, of one webhook or of all. */
  async listRuns(options: { webhookId?: string; limit?: number } = {}): Promise<Run[]> {
    const query = { webhook: options.webhookId, limit: options.limit };
    return (await this.http.json("GET", "/api/runs", runListSchema, { query })).runs;
  }

  async run(id: string): Promise<Run> {
    return this.http.json("GET", `/api/runs/${enc(id)}`, runSchema);
  }

  /** The executed notebook a run left. */
  async runOutput(id: string): Promise<NotebookDownload> {
    return this.download(`/api/runs/${enc(id)}/output`);
  }

  /** Who this client is signed in as (a bearer token, or the dashboard's session cookie). */
  async session(): Promise<SessionJson> {
    return this.http.json("GET", "/api/session", sessionSchema);
  }

  /** Exchanges the API token for a session cookie (in a browser: the dashboard's sign-in). */
  async signIn(token: string): Promise<SessionJson> {
    return this.http.json("POST", "/api/session", sessionSchema, { body: { token } });
  }

  async signOut(): Promise<void> {
    await this.http.json("DELETE", "/api/session", sessionSchema);
  }

  /** Stored secrets (docs/secrets.md): names, the webhook each is for (null: every webhook), times; never values. */
  async listSecrets(): Promise<Secret[]> {
    return (await this.http.json("GET", "/api/secrets", secretListSchema)).secrets;
  }

  /** Sets a secret, global or (with `webhookId`) one webhook's own; encrypted by the server. */
  async setSecret(name: string, value: string, options: { webhookId?: string } = {}): Promise<Secret> {
    const body = { value, ...(options.webhookId ? { webhook: options.webhookId } : {}) };
    return this.http.json("PUT", `/api/secrets/${enc(name)}`, secretSchema, { body });
  }

  /** Deletes the global secret `name`, or (with `webhookId`) that webhook's own. */
  async deleteSecret(name: string, options: { webhookId?: string } = {}): Promise<void> {
    await this.http.json("DELETE", `/api/secrets/${enc(name)}`, secretDeletedSchema, {
      query: { webhook: options.webhookId },
    });
  }

  /**
   * Creates a named API token (admin only). `webhooks`: ids of the webhooks a `read` or `deploy`
   * token is limited to. The answer's `token` is the secret, given this once.
   */
  async createToken(
    name: string,
    options: { scope: "read" | "deploy" | "admin"; webhooks?: string[] },
  ): Promise<CreatedTokenJson> {
    const body = { name, scope: options.scope, webhooks: options.webhooks ?? [] };
    return this.http.json("POST", "/api/tokens", createdTokenSchema, { body });
  }

  /** The live API tokens (admin only): names, scopes, webhooks, times; never the tokens. */
  async listTokens(): Promise<ApiTokenJson[]> {
    return (await this.http.json("GET", "/api/tokens", tokenListSchema)).tokens;
  }

  /** Revokes a token by name, at once (admin only). */
  async revokeToken(name: string): Promise<ApiTokenJson> {
    return (await this.http.json("DELETE", `/api/tokens/${enc(name)}`, revokedTokenSchema)).token;
  }

  /**
   * Calls a webhook (its URL, or the webhook) with `params` and answers what it answered: status,
   * headers, body (non-2xx answers too; it throws only when no answer came). Scalars go in a GET's
   * query, structured values as a POST's JSON body. With `async`, sends `Prefer: respond-async`
   * and polls the run (with the webhook's own token) up to its answer.
   *
   * @example
   * const answer = await api.call(webhook.url, { city: "Paris" }, { async: true });
   * if (answer.ok) console.log(answer.contentType, answer.text());
   */
  async call(
    webhook: string | Pick<Webhook, "url">,
    params: CallParameters = {},
    options: CallOptions = {},
  ): Promise<CallAnswer> {
    return callWebhook(this.http, typeof webhook === "string" ? webhook : webhook.url, params, options);
  }

  protected async download(route: string): Promise<NotebookDownload> {
    const reply = await this.http.send("GET", route);
    return { histo: reply.headers.get("nbhook-histo") ?? "", text: reply.text };
  }
}

export const enc = encodeURIComponent;
