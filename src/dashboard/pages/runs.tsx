/** Every recent run, updating live, filtered by webhook and status (kept in the URL's query). */
import { RUN_STATUSES, type RunStatus } from "../../run-status.js";
import { api } from "../api.js";
import { webhookTitle } from "../../api/webhook-names.js";
import { ErrorNote, LiveMarker } from "../components/indicators.js";
import { mergeRun, RunsTable } from "../components/runs-table.js";
import { useLoad, useRunEvents, useTick, useTitle } from "../hooks.js";
import { navigate } from "../router.js";

const LIMIT = 200;

export function RunsPage({ query }: { query: URLSearchParams }) {
  const webhook = query.get("webhook") ?? "";
  const status = (query.get("status") ?? "") as RunStatus | "";
  useTick(30_000);
  useTitle("Runs");
  const webhooks = useLoad(() => api.listWebhooks({ includeDeleted: true }), []);
  const runs = useLoad(() => api.listRuns({ webhookId: webhook || undefined, limit: LIMIT }), [webhook]);
  const live = useRunEvents(
    {
      onRun: (run) => {
        runs.update((list) => mergeRun(list, run, LIMIT));
      },
      onReady: () => runs.reload(),
    },
    webhook || undefined,
  );
  const filter = (name: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(name, value);
    else next.delete(name);
    const text = next.toString();
    navigate(`/runs${text ? `?${text}` : ""}`, { replace: true });
  };
  const shown = (runs.data ?? []).filter((r) => !status || r.status === status);
  return (
    <main id="main">
      <div class="page-head">
        <h1>Runs</h1>
        <div class="actions">
          <LiveMarker state={live} />
        </div>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Webhook{" "}
          <select value={webhook} onChange={(e) => filter("webhook", (e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {(webhooks.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {webhookTitle(w)}
                {w.name !== w.path ? ` — ${w.path}` : ""}
                {w.deleted_at ? " (deleted)" : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => filter("status", (e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </form>
      {runs.error ? <ErrorNote error={runs.error} what="The runs could not be read" /> : null}
      {runs.data ? (
        <RunsTable
          runs={shown}
          empty={status ? `None of the newest ${LIMIT} runs is ${status}.` : "No runs yet."}
        />
      ) : (
        <p class="loading">Loading…</p>
      )}
      {runs.data && runs.data.length >= LIMIT ? (
        <p class="muted small-text">
          The newest {LIMIT} runs{webhook ? " of this webhook" : ""}; older ones are in the API (GET
          /api/runs?limit=1000).
        </p>
      ) : null}
    </main>
  );
}
