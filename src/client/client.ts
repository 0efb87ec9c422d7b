/**
 * The TypeScript SDK: every `naas.webhook.*` management call of the guide over the REST API
 * (docs/api.md). Calls take a reference to the webhook (`ref`): its name, or the notebook's path
 * (resolved to absolute here, as Naas did); see {@link NbhookClient.lookup}.
 *
 * @example
 * const client = new NbhookClient({ url: "http://127.0.0.1:5000", token });
 * const { webhook } = await client.add("report.ipynb", { params: { inline: true } });
 * await fetch(webhook.url);
 */
import os from "node:os";
import path from "node:path";
import { AppError } from "../errors.js";
import { readDependencies, readNotebookText, type DependencyFile } from "./deploy-files.js";
import { NbhookApiError } from "./errors.js";
import {
  addResultSchema,
  deletedSchema,
  deletedWebhookSchema,
  outputListSchema,
  runListSchema,
  versionListSchema,
  webhookListSchema,
  webhookSchema,
  type AddResultJson as AddResult,
  type OutputJson as Output,
  type RunJson as Run,
  type VersionJson as Version,
  type RunMode,
  type WebhookJson as Webhook,
} from "../api/schemas.js";
import { ApiClient, enc, type NotebookDownload } from "./api-client.js";
import type { TransportOptions } from "./transport.js";
import { splitWebhookUrl, type CallAnswer, type CallOptions, type CallParameters } from "./webhook-call.js";

export type { NotebookDownload };

export type NbhookClientOptions = TransportOptions;

export interface AddOptions {
  /**
   * The webhook's name, its identity (docs/api.md, "Names"). Default: the notebook's absolute path,
   * or the name of the only webhook deployed from that path.
   */
  name?: string;
  /** Origins whose web pages may call the webhook URL (CORS); `*`: any page. */
  cors?: string[];
  /** The notebook (JSON text or object); default: the file at `path`. */
  notebook?: string | object;
  /** `notif_up`, `notif_down` (address or list), `next_url`, `inline`, and any parameter to inject. */
  params?: Record<string, unknown>;
  /** Log each run's parameters, cell progress and errors on the server. */
  debug?: boolean;
  /** Run time limit in seconds (default: the server's). */
  timeoutS?: number;
  /** Dependency files deployed beside the notebook (its runs' working directory). */
  files?: DependencyFile[];
  /** How calls get their kernel: isolated (default), setup, reuse. */
  mode?: RunMode;
  /** Calls of this webhook running at once (default: only the server's limit). */
  maxConcurrency?: number;
  /** In reuse mode, calls one kernel serves before it is replaced (default 100). */
  reuseCalls?: number;
}

/** The SDK in Node: ApiClient's calls, and Naas's by notebook path (files read from disk). */
export class NbhookClient extends ApiClient {
  constructor(options: NbhookClientOptions) {
    super(options);
  }

  /**
   * The webhook `ref` names, or undefined: the webhook named `ref`; else, `ref` being a notebook
   * path (resolved to absolute), the webhook named by that path, else the only one deployed from
   * it. A path deployed under several names throws a 409 NbhookApiError listing them.
   */
  async lookup(ref: string, options: { includeDeleted?: boolean } = {}): Promise<Webhook | undefined> {
    const include_deleted = options.includeDeleted || undefined;
    const find = async (query: { name?: string; path?: string }) =>
      (
        await this.http.json("GET", "/api/webhooks", webhookListSchema, {
          query: { ...query, include_deleted },
        })
      ).webhooks;
    const [named] = await find({ name: ref });
    if (named) return named;
    const absolute = path.resolve(ref);
    if (absolute !== ref) {
      const [byPath] = await find({ name: absolute });
      if (byPath) return byPath;
    }
    const from = await find({ path: absolute });
    if (from.length <= 1) return from[0];
    throw new NbhookApiError(
      409,
      "conflict",
      `${absolute} is deployed under several names (${from.map((w) => w.name).join(", ")}): ` +
        "give one of those names instead of the path",
    );
  }

  /** The webhook `ref` names (see {@link lookup}); throws a 404 NbhookApiError saying how to deploy it. */
  async webhook(ref: string): Promise<Webhook> {
    const found = await this.lookup(ref);
    if (found) return found;
    const absolute = path.resolve(ref);
    throw new NbhookApiError(
      404,
      "not-found",
      absolute === ref
        ? `no webhook for ${absolute}: deploy it with \`nbhook add ${absolute}\``
        : `no webhook named ${ref} nor deployed from ${absolute}: deploy it with \`nbhook add ${absolute}\` ` +
            `(list them with \`nbhook currents\`)`,
    );
  }

  /**
   * Calls a webhook given by its URL, its notebook's path (looked up, then called on this
   * client's server URL), or the webhook; see ApiClient.call.
   */
  override async call(
    ref: string | Pick<Webhook, "url">,
    params: CallParameters = {},
    options: CallOptions = {},
  ): Promise<CallAnswer> {
    if (typeof ref !== "string" || /^https?:\/\//i.test(ref)) return super.call(ref, params, options);
    const { token } = splitWebhookUrl((await this.webhook(ref)).url);
    return super.call(`${this.url}/notebook/${encodeURIComponent(token)}`, params, options);
  }

  /** Deploys the notebook: a new webhook, or a new version of the existing one (same URL). */
  async add(notebookPath: string, options: AddOptions = {}): Promise<AddResult> {
    const absolute = path.resolve(notebookPath);
    const body = {
      path: absolute,
      name: options.name,
      source_host: os.hostname(),
      cors: options.cors,
      notebook: options.notebook ?? (await readNotebookText(absolute)),
      params: options.params ?? {},
      debug: options.debug ?? false,
      timeout_s: options.timeoutS,
      mode: options.mode,
      max_concurrency: options.maxConcurrency,
      reuse_calls: options.reuseCalls,
      files: await readDependencies(absolute, options.files ?? []),
    };
    return this.http.json("POST", "/api/webhooks", addResultSchema, { body });
  }

  /** The webhook's URL, or undefined when the notebook is not deployed (Naas's `find`). */
  async find(notebookPath: string): Promise<string | undefined> {
    return (await this.lookup(notebookPath))?.url;
  }

  /** Deployed versions, newest (live) first. */
  async list(notebookPath: string): Promise<Version[]> {
    const webhook = await this.webhook(notebookPath);
    return (await this.http.json("GET", `/api/webhooks/${enc(webhook.id)}/versions`, versionListSchema))
      .versions;
  }

  /** A deployed version (the live one by default). */
  async get(notebookPath: string, options: { histo?: string } = {}): Promise<NotebookDownload> {
    const webhook = await this.webhook(notebookPath);
    return this.download(`/api/webhooks/${enc(webhook.id)}/versions/${enc(options.histo ?? "latest")}`);
  }

  /**
   * Clears one version (`histo`) or every version but the live one (`all`); `force` allows
   * clearing the live version too. Answers the cleared histos.
   */
  async clear(
    notebookPath: string,
    options: { histo?: string; all?: boolean; force?: boolean },
  ): Promise<string[]> {
    if (!options.histo === !options.all) {
      throw new AppError(
        "usage",
        "clear needs exactly one of histo (one version) or all (every version but the live one)",
      );
    }
    const webhook = await this.webhook(notebookPath);
    const route = `/api/webhooks/${enc(webhook.id)}/versions${options.histo ? `/${enc(options.histo)}` : ""}`;
    const query = { force: options.force || undefined };
    return (await this.http.json("DELETE", route, deletedSchema, { query })).deleted;
  }

  /** Output notebooks of the webhook's runs, newest first. */
  async outputs(notebookPath: string): Promise<Output[]> {
    const webhook = await this.webhook(notebookPath);
    return (await this.http.json("GET", `/api/webhooks/${enc(webhook.id)}/outputs`, outputListSchema))
      .outputs;
  }

  /** A run's executed notebook (the newest by default). */
  async getOutput(notebookPath: string, options: { histo?: string } = {}): Promise<NotebookDownload> {
    const webhook = await this.webhook(notebookPath);
    return this.download(`/api/webhooks/${enc(webhook.id)}/outputs/${enc(options.histo ?? "latest")}`);
  }

  /** Clears one output (`histo`), or all of them. Answers the cleared histos. */
  async clearOutput(notebookPath: string, options: { histo?: string } = {}): Promise<string[]> {
    const webhook = await this.webhook(notebookPath);
    const route = `/api/webhooks/${enc(webhook.id)}/outputs${options.histo ? `/${enc(options.histo)}` : ""}`;
    return (await this.http.json("DELETE", route, deletedSchema)).deleted;
  }

  /** Stops the webhook: its URL answers 404; versions, outputs and runs are kept. */
  async delete(notebookPath: string): Promise<Webhook> {
    const webhook = await this.webhook(notebookPath);
    return (await this.http.json("DELETE", `/api/webhooks/${enc(webhook.id)}`, deletedWebhookSchema)).webhook;
  }

  /** Deployed webhooks (Naas's `currents`). */
  async currents(options: { includeDeleted?: boolean } = {}): Promise<Webhook[]> {
    const query = { include_deleted: options.includeDeleted || undefined };
    return (await this.http.json("GET", "/api/webhooks", webhookListSchema, { query })).webhooks;
  }

  /** Gives the webhook a new URL; the old one stops working. */
  async rotate(notebookPath: string): Promise<Webhook> {
    const webhook = await this.webhook(notebookPath);
    return this.http.json("POST", `/api/webhooks/${enc(webhook.id)}/rotate`, webhookSchema);
  }

  /** Recent runs, newest first: of the webhook `ref` names (a name or a path), of `webhookId`, or of all. */
  async runs(ref?: string, options: { webhookId?: string; limit?: number } = {}): Promise<Run[]> {
    if (ref !== undefined && options.webhookId !== undefined) {
      throw new AppError("usage", "give either a webhook (name or path) or webhookId, not both");
    }
    const query = {
      webhook: ref === undefined ? options.webhookId : (await this.webhook(ref)).id,
      limit: options.limit,
    };
    return (await this.http.json("GET", "/api/runs", runListSchema, { query })).runs;
  }
}
