/** One webhook: its URL, settings, versions (download, clear), runs; rotate the URL, delete it. */
import type { VersionJson, WebhookJson } from "../../api/schemas.js";
import { webhookTitle } from "../../api/webhook-names.js";
import { api, canDeploy, describeError, noticeSignOut } from "../api.js";
import { ErrorNote, LiveMarker, When } from "../components/indicators.js";
import { Section, Table } from "../components/layout.js";
import { CopyButton } from "../components/copy-button.js";
import { mergeRun, RunsTable } from "../components/runs-table.js";
import { dateTime, duration, histoTime, size } from "../format.js";
import { useLoad, useRunEvents, useTitle } from "../hooks.js";
import { navigate } from "../router.js";
import { useState } from "preact/hooks";

export function WebhookPage({ id }: { id: string }) {
  const webhook = useLoad(() => api.webhookById(id), [id]);
  const versions = useLoad(() => api.versionsOf(id), [id]);
  const runs = useLoad(() => api.listRuns({ webhookId: id, limit: 50 }), [id]);
  useTitle(webhook.data && webhookTitle(webhook.data));
  const [notice, setNotice] = useState<{ text: string; error?: boolean }>();
  const live = useRunEvents(
    {
      onRun: (run) => {
        runs.update((list) => mergeRun(list, run, 50));
      },
      onReady: () => runs.reload(),
    },
    id,
  );
  const act = async (what: string, action: () => Promise<void>) => {
    setNotice(undefined);
    try {
      await action();
    } catch (err) {
      noticeSignOut(err);
      setNotice({ text: `${what} failed: ${describeError(err)}`, error: true });
    }
  };
  if (webhook.error)
    return (
      <main id="main">
        <ErrorNote error={webhook.error} what="This webhook could not be read" />
      </main>
    );
  const w = webhook.data;
  if (!w)
    return (
      <main id="main">
        <p class="loading">Loading…</p>
      </main>
    );

  const rotate = () =>
    act("Rotating the URL", async () => {
      if (
        !confirm(
          `Give ${webhookTitle(w)} a new URL? The current one stops working at once; callers need the new one.`,
        )
      )
        return;
      webhook.set(await api.rotateWebhook(w.id));
      setNotice({ text: "The webhook has a new URL; the old one answers 404." });
    });
  const remove = () =>
    act("Deleting", async () => {
      if (
        !confirm(
          `Delete ${webhookTitle(w)}? Its URL answers 404 from now on; versions, outputs and runs are kept.`,
        )
      )
        return;
      await api.deleteWebhook(w.id);
      navigate("/");
    });
  const clear = (version: VersionJson) =>
    act("Clearing the version", async () => {
      if (!confirm(`Clear version ${version.histo} of ${webhookTitle(w)}? Its notebook is deleted.`)) return;
      await api.clearVersion(w.id, version.histo);
      versions.reload();
      setNotice({ text: `Version ${version.histo} was cleared.` });
    });

  return (
    <main id="main">
      <div class="page-head">
        <div>
          <p class="crumbs">
            <a href="/">Webhooks</a> /
          </p>
          <h1>{webhookTitle(w)}</h1>
          <p class="muted path">
            {w.path}
            {w.source_host ? <> · deployed from {w.source_host}</> : null}
          </p>
        </div>
        <div class="actions">
          {w.deleted_at ? null : (
            <>
              <a class="button primary" href={`/webhooks/${encodeURIComponent(w.id)}/try`}>
                Try it
              </a>
              {canDeploy() ? (
                <>
                  <button type="button" onClick={rotate}>
                    Rotate URL
                  </button>
                  <button type="button" class="danger" onClick={remove}>
                    Delete
                  </button>
                </>
              ) : null}
            </>
          )}
        </div>
      </div>
      {notice ? (
        <p class={notice.error ? "error-note" : "ok-note"} role="status">
          {notice.text}
        </p>
      ) : null}
      {w.deleted_at ? (
        <p class="error-note">
          Deleted <When iso={w.deleted_at} />: its URL answers 404. Deploy the notebook again with{" "}
          <code>
            nbhook add {w.path}
            {w.name !== w.path ? ` --name ${w.name}` : ""}
          </code>{" "}
          to bring it back.
        </p>
      ) : (
        <div class="url-line">
          <code class="url" data-testid="webhook-url">
            {w.url}
          </code>
          <CopyButton text={w.url} label="Copy URL" />
        </div>
      )}
      <Settings webhook={w} />
      <Section title="Versions">
        {versions.error ? <ErrorNote error={versions.error} /> : null}
        {versions.data ? (
          <Table label="Versions">
            <thead>
              <tr>
                <th>Version (histo)</th>
                <th>Deployed</th>
                <th class="num">Size</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {versions.data.map((v) => (
                <tr key={v.histo} data-histo={v.histo}>
                  <td class="mono">
                    {v.histo} {v.live ? <span class="badge status-ok">live</span> : null}
                  </td>
                  <td title={histoTime(v.histo)}>{dateTime(v.created_at)}</td>
                  <td class="num">{size(v.size)}</td>
                  <td class="row-actions">
                    <a
                      class="button small"
                      href={`/api/webhooks/${encodeURIComponent(w.id)}/versions/${encodeURIComponent(v.histo)}`}
                      download={`${w.file_name.replace(/\.ipynb$/, "")}-${v.histo}.ipynb`}
                    >
                      Download
                    </a>
                    {canDeploy() ? (
                      <button
                        type="button"
                        class="small"
                        disabled={v.live}
                        title={
                          v.live
                            ? "The live version: deploy another one first"
                            : "Delete this version's notebook"
                        }
                        onClick={() => clear(v)}
                      >
                        Clear
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
      </Section>
      <Section title="Runs" actions={<LiveMarker state={live} />}>
        {runs.error ? <ErrorNote error={runs.error} /> : null}
        {runs.data ? <RunsTable runs={runs.data} showWebhook={false} /> : null}
      </Section>
    </main>
  );
}

/** `inline` as the server reads it: true, a non-zero number, or "true"/"1"/"yes"/"on". */
function isTruthy(value: unknown): boolean {
  if (typeof value === "string") return ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
  return value === true || (typeof value === "number" && value !== 0);
}

function Settings({ webhook: w }: { webhook: WebhookJson }) {
  const { notif_up, notif_down, next_url, inline, ...rest } = w.params;
  const list = (value: unknown) => (Array.isArray(value) ? value.join(", ") : value ? String(value) : "—");
  return (
    <Section title="Settings">
      <dl class="settings">
        <dt>Mode</dt>
        <dd>{w.mode}</dd>
        <dt>Time limit</dt>
        <dd>{duration(w.timeout_ms)}</dd>
        <dt>Calls at once</dt>
        <dd>{w.max_concurrency ?? "no limit of its own"}</dd>
        {w.mode === "reuse" ? (
          <>
            <dt>Calls per kernel</dt>
            <dd>{w.reuse_calls}</dd>
          </>
        ) : null}
        <dt>Callable from pages of (CORS)</dt>
        <dd>{w.cors.length ? w.cors.map((o) => (o === "*" ? "any origin (*)" : o)).join(", ") : "none"}</dd>
        <dt>Debug log</dt>
        <dd>{w.debug ? "on" : "off"}</dd>
        <dt>Mail on success</dt>
        <dd>{list(notif_up)}</dd>
        <dt>Mail on failure</dt>
        <dd>{list(notif_down)}</dd>
        <dt>Redirect after a run</dt>
        <dd>{next_url ? String(next_url) : "—"}</dd>
        <dt>Inline answers</dt>
        <dd>{isTruthy(inline) ? "yes" : "no (downloads)"}</dd>
        {Object.keys(rest).length > 0 ? (
          <>
            <dt>Parameters set at deploy</dt>
            <dd>
              <pre>{JSON.stringify(rest, null, 2)}</pre>
            </dd>
          </>
        ) : null}
        <dt>Deployed</dt>
        <dd>
          {dateTime(w.created_at)} (updated <When iso={w.updated_at} />)
        </dd>
      </dl>
    </Section>
  );
}
