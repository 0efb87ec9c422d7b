/** The runs table of the Runs page and of a webhook's page. */
import type { RunJson } from "../../api/schemas.js";
import { baseName, duration } from "../format.js";
import { StatusBadge, When } from "./indicators.js";
import { Table } from "./layout.js";

export function RunsTable({
  runs,
  showWebhook = true,
  empty = "No runs yet.",
}: {
  runs: RunJson[];
  showWebhook?: boolean;
  /** What to say when there is none. */
  empty?: string;
}) {
  if (runs.length === 0) return <p class="muted empty">{empty}</p>;
  return (
    <Table label="Runs">
      <thead>
        <tr>
          <th>Status</th>
          {showWebhook ? <th>Webhook</th> : null}
          <th>Started</th>
          <th class="num">Duration</th>
          <th class="num">HTTP</th>
          <th>Run</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.id} data-run-id={run.id} data-status={run.status}>
            <td>
              <StatusBadge status={run.status} />
            </td>
            {showWebhook ? (
              <td>
                <a href={`/webhooks/${encodeURIComponent(run.webhook_id)}`} title={run.path}>
                  {run.webhook_name && run.path && run.webhook_name !== run.path
                    ? run.webhook_name
                    : run.path
                      ? baseName(run.path)
                      : run.webhook_id}
                </a>
              </td>
            ) : null}
            <td>
              <When iso={run.started_at} />
            </td>
            <td class="num">{duration(run.duration_ms)}</td>
            <td class="num">{run.http_status ?? "—"}</td>
            <td>
              <a href={`/runs/${encodeURIComponent(run.id)}`} class="mono">
                {run.id.slice(0, 12)}
              </a>
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** Puts a run from the live feed into a newest-first list: replaced where it is, else added on top. */
export function mergeRun(runs: RunJson[], run: RunJson, limit = 200): RunJson[] {
  const at = runs.findIndex((r) => r.id === run.id);
  if (at >= 0) return runs.map((r, i) => (i === at ? run : r));
  return [run, ...runs].slice(0, limit);
}
