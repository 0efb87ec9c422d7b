/** What a page shows of a state: a run's status, a time, an error, whether the live feed is on. */
import type { RunStatus } from "../../run-status.js";
import { describeError } from "../api.js";
import { dateTime, timeAgo } from "../format.js";
import type { LiveState } from "../hooks.js";

export function StatusBadge({ status }: { status: RunStatus | null | undefined }) {
  if (!status) return <span class="muted">never run</span>;
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={dateTime(iso)}>
      {timeAgo(iso)}
    </time>
  );
}

export function ErrorNote({ error, what }: { error: unknown; what?: string }) {
  return (
    <p class="error-note" role="alert">
      {what ? `${what}: ` : ""}
      {describeError(error)}
    </p>
  );
}

export function LiveMarker({ state }: { state: LiveState }) {
  const text = state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…";
  return (
    <span class={`live live-${state}`} title="Runs update as they are queued, start and finish">
      {text}
    </span>
  );
}
