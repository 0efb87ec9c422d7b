/**
 * One run: its status and timing, parameters (as stored: secrets redacted), the error with its
 * coloured traceback, per-cell timing, the kept answer, and the executed notebook (rendered by the
 * server, shown in a sandboxed frame: it is the notebook author's HTML, not the dashboard's).
 */
import { useState } from "preact/hooks";
import type { RunJson } from "../../api/schemas.js";
import { api, noticeSignOut } from "../api.js";
import { AnsiBlock } from "../components/ansi.js";
import { ErrorNote, LiveMarker, StatusBadge, When } from "../components/indicators.js";
import { Section, Table } from "../components/layout.js";
import { AnswerView, readAnswer, type Answer } from "../components/answer.js";
import { dateTime, duration } from "../format.js";
import { NbhookApiError } from "../../client/errors.js";
import { useLoad, useRunEvents, useTitle } from "../hooks.js";

interface CellTiming {
  index: number;
  source: string;
  seconds?: number;
  status?: string;
}

/** Code cells with the timing the run wrote into their metadata (papermill's fields). */
export function cellTimings(notebookText: string): CellTiming[] {
  const nb = JSON.parse(notebookText) as {
    cells?: {
      cell_type: string;
      source: string | string[];
      metadata?: { tags?: string[]; papermill?: unknown };
    }[];
  };
  const out: CellTiming[] = [];
  (nb.cells ?? []).forEach((cell, index) => {
    if (cell.cell_type !== "code") return;
    const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    const pm = cell.metadata?.papermill as { duration?: number; status?: string } | undefined;
    // The cell nbhook injected starts with a comment line of its own: show what it set.
    const injected = cell.metadata?.tags?.includes("injected-parameters") ?? false;
    const first = source.split("\n").find((l) => l.trim() && !(injected && l.startsWith("#"))) ?? "";
    out.push({
      index,
      source: injected ? `(this call's parameters) ${first}` : first,
      seconds: pm?.duration,
      status: pm?.status,
    });
  });
  return out;
}

/**
 * The traceback of the failing cell's error output, colours included (the run record keeps it
 * without ANSI escapes, as plain text for mails and logs).
 */
export function notebookTraceback(notebookText: string, cellIndex: number | undefined): string[] | undefined {
  const nb = JSON.parse(notebookText) as {
    cells?: { outputs?: { output_type: string; traceback?: string[] }[] }[];
  };
  const all = nb.cells ?? [];
  const cells = cellIndex === undefined ? all : [all[cellIndex], ...all];
  for (const cell of cells) {
    const error = cell?.outputs?.find((o) => o.output_type === "error");
    if (error?.traceback?.length) return error.traceback;
  }
  return undefined;
}

export function RunPage({ id }: { id: string }) {
  const run = useLoad(() => api.run(id), [id]);
  const finished = run.data && run.data.status !== "queued" && run.data.status !== "running";
  const output = useLoad(async () => {
    if (!finished) return undefined;
    try {
      return await api.runOutput(id);
    } catch (err) {
      if (err instanceof NbhookApiError && err.status === 404) return undefined; // cleared, or never saved
      throw err;
    }
  }, [id, finished]);
  // Only while the run is going: a finished run does not change.
  const live = useRunEvents(
    {
      onRun: (changed) => {
        if (changed.id === id) run.update(() => changed);
      },
      onReady: () => run.reload(),
    },
    run.data?.webhook_id,
    run.data !== undefined && !finished,
  );
  useTitle(`Run ${id.slice(0, 8)}`);
  if (run.error && !run.data)
    return (
      <main id="main">
        <ErrorNote error={run.error} what="This run could not be read" />
      </main>
    );
  const r = run.data;
  if (!r)
    return (
      <main id="main">
        <p class="loading">Loading…</p>
      </main>
    );
  const timings = output.data ? cellTimings(output.data.text) : [];
  const traceback =
    (r.error && output.data ? notebookTraceback(output.data.text, r.error.cell_index) : undefined) ??
    r.error?.traceback;
  return (
    <main id="main">
      <div class="page-head">
        <div>
          <p class="crumbs">
            <a href="/runs">Runs</a> /{" "}
            <a href={`/webhooks/${encodeURIComponent(r.webhook_id)}`}>
              {r.webhook_name && r.webhook_name !== r.path ? r.webhook_name : (r.path ?? r.webhook_id)}
            </a>{" "}
            /
          </p>
          <h1>
            Run <span class="mono">{r.id}</span>
          </h1>
        </div>
        <div class="actions">
          {finished ? null : <LiveMarker state={live} />}
          {output.data ? (
            <a
              class="button"
              href={`/api/runs/${encodeURIComponent(r.id)}/output`}
              download={`run-${r.id}.ipynb`}
            >
              Download .ipynb
            </a>
          ) : null}
        </div>
      </div>
      <Summary run={r} />
      {r.error ? (
        <Section title="Error">
          <p class="error-title">
            <strong>{r.error.ename}</strong>: {r.error.evalue}
            {r.error.cell_index !== undefined ? (
              <span class="muted"> (cell {r.error.cell_index + 1})</span>
            ) : null}
          </p>
          {traceback && traceback.length > 0 ? <AnsiBlock lines={traceback} /> : null}
        </Section>
      ) : null}
      <Section title="Parameters">
        <pre class="json">{JSON.stringify(r.parameters, null, 2)}</pre>
      </Section>
      {finished ? <AnswerSection run={r} notebookText={output.data?.text} /> : null}
      {timings.length > 0 ? (
        <Section title="Cells">
          <Table label="Cell timing">
            <thead>
              <tr>
                <th class="num">Cell</th>
                <th>Source</th>
                <th class="num">Time</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {timings.map((t) => (
                <tr key={t.index}>
                  <td class="num">{t.index + 1}</td>
                  <td>
                    <code class="clip">{t.source}</code>
                  </td>
                  <td class="num">{t.seconds === undefined ? "—" : duration(t.seconds * 1000)}</td>
                  <td>{t.status ?? "not run"}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </Section>
      ) : null}
      {output.data ? (
        <Section title="Executed notebook">
          <iframe
            class="notebook-frame"
            title="The executed notebook"
            sandbox=""
            src={`/api/runs/${encodeURIComponent(r.id)}/output?format=html`}
          />
        </Section>
      ) : output.error ? (
        <ErrorNote error={output.error} what="The executed notebook could not be read" />
      ) : finished && !output.loading ? (
        <p class="muted">
          This run left no executed notebook (it was cleared, or the run ended before saving one).
        </p>
      ) : null}
    </main>
  );
}

function Summary({ run: r }: { run: RunJson }) {
  return (
    <dl class="settings summary">
      <dt>Status</dt>
      <dd>
        <StatusBadge status={r.status} />
      </dd>
      <dt>Started</dt>
      <dd>
        {dateTime(r.started_at)} (<When iso={r.started_at} />)
      </dd>
      {r.queued_at ? (
        <>
          <dt>Queued</dt>
          <dd>{dateTime(r.queued_at)}</dd>
        </>
      ) : null}
      <dt>Duration</dt>
      <dd>{duration(r.duration_ms)}</dd>
      <dt>HTTP status</dt>
      <dd>{r.http_status ?? "—"}</dd>
      <dt>Version</dt>
      <dd class="mono">{r.version_histo}</dd>
    </dl>
  );
}

const RESPONSE_MIME = "application/vnd.nbhook.response+json";

/**
 * The answer as the notebook gave it: the first response bundle (DESIGN.md, "Response") in the
 * executed notebook, as an Answer with the run's HTTP status. Every run has it, where only
 * asynchronous calls keep the answer itself. Undefined when the notebook gave none.
 */
export function notebookAnswer(notebookText: string, httpStatus: number | null): Answer | undefined {
  const nb = JSON.parse(notebookText) as { cells?: { outputs?: { data?: Record<string, unknown> }[] }[] };
  for (const cell of nb.cells ?? []) {
    for (const output of cell.outputs ?? []) {
      const bundle = output.data?.[RESPONSE_MIME] as
        | {
            content_type?: string;
            data?: string;
            encoding?: string;
            status?: number;
            headers?: Record<string, string>;
            render?: string;
            size?: number;
            omitted?: number;
          }
        | undefined;
      if (!bundle || typeof bundle.content_type !== "string") continue;
      const contentType = (bundle.render ?? bundle.content_type).toLowerCase();
      let body: Blob;
      let text: string | undefined;
      if (typeof bundle.data === "string" && bundle.encoding === "base64") {
        const bytes = Uint8Array.from(atob(bundle.data), (c) => c.charCodeAt(0));
        body = new Blob([bytes], { type: contentType });
      } else if (typeof bundle.data === "string") {
        text = bundle.data;
        body = new Blob([text], { type: contentType });
        // Markdown rendered by the server: its source is what the notebook gave.
        if (bundle.render) text = undefined;
      } else {
        body = new Blob([]); // a file answer (respond_file), or one too large to keep in the notebook
      }
      const headers: [string, string][] = [["content-type", bundle.content_type]];
      for (const [name, value] of Object.entries(bundle.headers ?? {}))
        headers.push([name.toLowerCase(), value]);
      return {
        status: httpStatus ?? bundle.status ?? 200,
        redirect: false,
        headers,
        contentType: bundle.render && typeof bundle.data === "string" ? "text/markdown" : contentType,
        body,
        text: text ?? (bundle.render && typeof bundle.data === "string" ? bundle.data : undefined),
      };
    }
  }
  return undefined;
}

/**
 * What the call answered: the notebook's response from the executed notebook (every run), and
 * the answer kept for pollers (asynchronous calls), read on demand as the API gives it.
 */
function AnswerSection({ run, notebookText }: { run: RunJson; notebookText?: string }) {
  const [kept, setKept] = useState<Answer | "none" | undefined>();
  const [error, setError] = useState<unknown>();
  const fromNotebook = notebookText ? notebookAnswer(notebookText, run.http_status) : undefined;
  const load = async () => {
    setError(undefined);
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(run.id)}/response`, {
        redirect: "manual",
      });
      if (response.status === 401) noticeSignOut(new NbhookApiError(401, "unauthorized", "signed out"));
      else if (response.status === 404) setKept("none");
      else setKept(await readAnswer(response));
    } catch (err) {
      setError(err);
    }
  };
  const ok = run.status === "ok";
  return (
    <Section
      title="Answer"
      actions={
        kept ? null : (
          <button type="button" class="small" onClick={load}>
            Show the kept answer
          </button>
        )
      }
    >
      <p class="muted">
        The call was answered {run.http_status ?? "—"}.{" "}
        {!ok
          ? "A failed run answers its error as JSON (above)."
          : fromNotebook
            ? "Below, the response as the notebook gave it (the server adds its own headers: Cache-Control, X-Nbhook-Run-Id, Content-Disposition…)."
            : notebookText
              ? "The notebook gave no response: the call answered the run's JSON ({id, status, time}), or a redirect to the webhook's next_url."
              : null}
      </p>
      {ok && fromNotebook && !kept ? <AnswerView answer={fromNotebook} /> : null}
      {kept === "none" ? (
        <p class="muted">
          Its answer itself was not kept: only calls made with Prefer: respond-async or wait=N keep theirs.
        </p>
      ) : null}
      {error ? <ErrorNote error={error} /> : null}
      {kept && kept !== "none" ? <AnswerView answer={kept} /> : null}
    </Section>
  );
}
