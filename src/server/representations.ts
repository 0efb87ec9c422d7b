/**
 * @module How store records look in the JSON API: built as the types of api/schemas.ts, which the
 * SDK parses with, so a field added on one side and not the other does not compile.
 */
import type { OutputJson, RunJson, VersionJson, WebhookJson } from "../api/schemas.js";
import { webhookTitle } from "../api/webhook-names.js";
import type { Links } from "../runs/index.js";
import type { OutputInfo, Run, Webhook, WebhookVersion } from "../store/index.js";

/** Content type of notebook downloads (versions, outputs). */
export const IPYNB_CONTENT_TYPE = "application/x-ipynb+json";

/** Response header naming the histo of a downloaded version or output (useful with `latest`). */
export const HISTO_HEADER = "nbhook-histo";

/** A webhook in titles: its name, or its file name when it is named by its path (the default). */
export function webhookTitleOf(w: Webhook): string {
  return webhookTitle({ name: w.name, path: w.path, file_name: w.fileName });
}

export function webhookJson(w: Webhook, links: Links): WebhookJson {
  return {
    id: w.id,
    name: w.name,
    path: w.path,
    file_name: w.fileName,
    source_host: w.sourceHost,
    url: links.webhook(w.token),
    params: w.params,
    debug: w.debug,
    timeout_ms: w.timeoutMs,
    mode: w.settings.mode,
    max_concurrency: w.settings.maxConcurrency,
    reuse_calls: w.settings.reuseCalls,
    cors: w.settings.cors,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
    deleted_at: w.deletedAt,
    live_histo: w.liveHisto,
    last_run_at: w.lastRunAt,
    last_run_status: w.lastRunStatus,
  };
}

export function versionJson(v: WebhookVersion, liveHisto: string | null): VersionJson {
  return {
    histo: v.histo,
    created_at: v.createdAt,
    size: v.size,
    sha256: v.sha256,
    live: v.histo === liveHisto,
  };
}

export function outputJson(o: OutputInfo): OutputJson {
  return { histo: o.histo, created_at: o.createdAt, size: o.size, run_id: o.runId };
}

export function runJson(r: Run, links: Links, path?: string, name?: string): RunJson {
  return {
    id: r.id,
    webhook_id: r.webhookId,
    path,
    webhook_name: name,
    version_histo: r.versionHisto,
    output_histo: r.outputHisto,
    status: r.status,
    queued_at: r.queuedAt,
    started_at: r.startedAt,
    duration_ms: r.durationMs,
    error: r.error && {
      ename: r.error.ename,
      evalue: r.error.evalue,
      traceback: r.error.traceback,
      cell_index: r.error.cellIndex,
    },
    parameters: r.parameters,
    http_status: r.httpStatus,
    url: links.run(r.id),
    output_url: links.runOutput(r.id),
    response_url: links.runAnswer(r.id),
  };
}
