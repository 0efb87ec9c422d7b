/** Small pieces every page uses: status badges, times, copy buttons, errors, the live marker. */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
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

/** Copies `text`; falls back to selecting it where the Clipboard API is not allowed (plain http). */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState<"" | "copied" | "failed">("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone("copied");
    } catch {
      const input = document.createElement("textarea");
      input.value = text;
      document.body.append(input);
      input.select();
      const ok = document.execCommand("copy");
      input.remove();
      setDone(ok ? "copied" : "failed");
    }
    setTimeout(() => setDone(""), 1500);
  };
  return (
    <button type="button" class="small" onClick={copy} aria-live="polite">
      {done === "copied" ? "Copied" : done === "failed" ? "Copy failed" : label}
    </button>
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

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="panel">
      <div class="panel-head">
        <h2>{title}</h2>
        {actions ? <div class="actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

/** A table that scrolls sideways on a narrow screen instead of squeezing its columns. */
export function Table({ children, label }: { children: ComponentChildren; label: string }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>{children}</table>
    </div>
  );
}
