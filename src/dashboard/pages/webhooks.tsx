/** The home page: every webhook with its URL, mode, live version, last run and calls of the last day. */
import { useEffect, useState } from "preact/hooks";
import type { RunJson, WebhookJson } from "../../api/schemas.js";
import { webhookTitle } from "../../api/webhook-names.js";
import { api } from "../api.js";
import { mergeRun } from "../components/runs-table.js";
import { ErrorNote, LiveMarker, StatusBadge, When } from "../components/indicators.js";
import { Table } from "../components/layout.js";
import { CopyButton } from "../components/copy-button.js";
import { duration, histoTime } from "../format.js";
import { useLoad, useRunEvents, useTick, useTitle } from "../hooks.js";

const DAY_MS = 86_400_000;
/** Runs read to count the last day's calls (the API's largest page). */
const RUNS_READ = 1000;
const WEBHOOKS_EVERY_MS = 3000;

interface Stats {
  last?: RunJson;
  lastDay: number;
}

export function statsOf(runs: RunJson[], now = Date.now()): Map<string, Stats> {
  const stats = new Map<string, Stats>();
  for (const run of runs) {
    const entry = stats.get(run.webhook_id) ?? { lastDay: 0 };
    entry.last ??= run; // newest first
    if (now - Date.parse(run.started_at) <= DAY_MS) entry.lastDay++;
    stats.set(run.webhook_id, entry);
  }
  return stats;
}

export function WebhooksPage() {
  const [showDeleted, setShowDeleted] = useState(false);
  useTick(30_000);
  useTitle("Webhooks");
  const webhooks = useLoad(() => api.listWebhooks({ includeDeleted: showDeleted }), [showDeleted]);
  const runs = useLoad(() => api.listRuns({ limit: RUNS_READ }), []);
  const live = useRunEvents({
    onRun: (run) => {
      runs.update((list) => mergeRun(list, run, RUNS_READ));
    },
    onReady: () => runs.reload(),
  });
  // Deployments come from the CLI and the API, not from this page: the list is read again now and then.
  const reloadWebhooks = webhooks.reload;
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") reloadWebhooks();
    }, WEBHOOKS_EVERY_MS);
    return () => clearInterval(timer);
  }, [reloadWebhooks]);
  const stats = statsOf(runs.data ?? []);
  const capped = (runs.data?.length ?? 0) >= RUNS_READ;
  return (
    <main id="main">
      <div class="page-head">
        <h1>Webhooks</h1>
        <div class="actions">
          <LiveMarker state={live} />
          <label class="toggle">
            <input
              type="checkbox"
              checked={showDeleted}
              onChange={(e) => setShowDeleted((e.target as HTMLInputElement).checked)}
            />{" "}
            Show deleted
          </label>
        </div>
      </div>
      {webhooks.error ? <ErrorNote error={webhooks.error} what="The webhooks could not be read" /> : null}
      {webhooks.data && webhooks.data.length === 0 ? (
        <div class="panel empty">
          <p>No webhook is deployed yet. Deploy a notebook from a terminal:</p>
          <pre>nbhook add my-notebook.ipynb</pre>
        </div>
      ) : null}
      {webhooks.data && webhooks.data.length > 0 ? (
        <Table label="Webhooks">
          <thead>
            <tr>
              <th>Notebook</th>
              <th>URL</th>
              <th>Mode</th>
              <th>Live version</th>
              <th>Last run</th>
              <th class="num" title={capped ? `counted in the newest ${RUNS_READ} runs` : undefined}>
                Calls (24 h)
              </th>
            </tr>
          </thead>
          <tbody>
            {webhooks.data.map((w) => (
              <WebhookRow key={w.id} webhook={w} stats={stats.get(w.id)} capped={capped} />
            ))}
          </tbody>
        </Table>
      ) : null}
    </main>
  );
}

function WebhookRow({ webhook: w, stats, capped }: { webhook: WebhookJson; stats?: Stats; capped: boolean }) {
  const last = stats?.last;
  return (
    <tr data-webhook-id={w.id} class={w.deleted_at ? "deleted" : undefined}>
      <td>
        <a href={`/webhooks/${encodeURIComponent(w.id)}`} class="strong">
          {webhookTitle(w)}
        </a>
        <div class="muted small-text path">
          {w.path}
          {w.name !== w.path && w.source_host ? ` (${w.source_host})` : ""}
        </div>
        {w.deleted_at ? <span class="badge status-cancelled">deleted</span> : null}
      </td>
      <td class="url-cell">
        {w.deleted_at ? (
          <span class="muted">—</span>
        ) : (
          <>
            <code class="url" title={w.url}>
              {w.url}
            </code>{" "}
            <CopyButton text={w.url} />
          </>
        )}
      </td>
      <td>{w.mode}</td>
      <td title={w.live_histo ?? undefined}>{w.live_histo ? histoTime(w.live_histo) : "—"}</td>
      <td>
        {last ? (
          <a href={`/runs/${encodeURIComponent(last.id)}`} class="last-run">
            <StatusBadge status={last.status} /> <When iso={last.started_at} />
            <span class="muted"> · {duration(last.duration_ms)}</span>
          </a>
        ) : (
          <>
            <StatusBadge status={w.last_run_status} /> <When iso={w.last_run_at} />
          </>
        )}
      </td>
      <td class="num">
        {stats?.lastDay ?? 0}
        {capped && stats && stats.lastDay > 0 ? "+" : ""}
      </td>
    </tr>
  );
}
