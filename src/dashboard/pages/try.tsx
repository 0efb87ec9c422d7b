/**
 * Try a webhook: a form built from its notebook's `parameters` cell (one field per parameter,
 * typed as its default), optional files (sent as multipart/form-data), and the answer as the
 * webhook gave it. The call goes to the webhook's own URL, exactly as any caller's would.
 */
import { useState } from "preact/hooks";
import type { WebhookJson } from "../../api/schemas.js";
import { webhookTitle } from "../../api/webhook-names.js";
import { api, describeError, pathOf } from "../api.js";
import { AnswerView, readAnswer, type Answer } from "../components/answer.js";
import { ErrorNote } from "../components/indicators.js";
import { Section } from "../components/layout.js";
import { useLoad, useTitle } from "../hooks.js";
import { fieldText, initialText, jsonBody, readForm, type FieldSpec } from "../param-form.js";

export function TryPage({ id }: { id: string }) {
  const webhook = useLoad(() => api.webhookById(id), [id]);
  const params = useLoad(() => api.webhookParameters(id), [id]);
  useTitle(webhook.data ? `Try ${webhookTitle(webhook.data)}` : "Try");
  if (webhook.error)
    return (
      <main id="main">
        <ErrorNote error={webhook.error} what="This webhook could not be read" />
      </main>
    );
  if (!webhook.data || (!params.data && !params.error))
    return (
      <main id="main">
        <p class="loading">Loading…</p>
      </main>
    );
  const fields: FieldSpec[] = params.data?.parameters ?? [];
  return (
    <main id="main">
      <div class="page-head">
        <div>
          <p class="crumbs">
            <a href="/">Webhooks</a> /{" "}
            <a href={`/webhooks/${encodeURIComponent(id)}`}>{webhookTitle(webhook.data)}</a> /
          </p>
          <h1>Try {webhookTitle(webhook.data)}</h1>
        </div>
      </div>
      {params.error ? (
        <ErrorNote error={params.error} what="The notebook's parameters could not be read" />
      ) : null}
      {webhook.data.deleted_at ? (
        <p class="error-note">
          This webhook was deleted: its URL answers 404. Deploy the notebook again with{" "}
          <code>
            nbhook add {webhook.data.path}
            {webhook.data.name !== webhook.data.path ? ` --name ${webhook.data.name}` : ""}
          </code>{" "}
          to call it.
        </p>
      ) : (
        <CallForm webhook={webhook.data} fields={fields} />
      )}
    </main>
  );
}

function CallForm({ webhook, fields }: { webhook: WebhookJson; fields: FieldSpec[] }) {
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((f) => [f.name, initialText(f)])),
  );
  const [extra, setExtra] = useState("");
  const [fileField, setFileField] = useState("file");
  const [files, setFiles] = useState<File[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [answer, setAnswer] = useState<Answer>();
  const [failure, setFailure] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = readForm(fields, texts, extra);
    setErrors(form.errors);
    if (Object.keys(form.errors).length > 0) return;
    setBusy(true);
    setFailure(undefined);
    setAnswer(undefined);
    let body: BodyInit;
    const headers: Record<string, string> = {};
    if (files.length > 0) {
      const data = new FormData();
      for (const [name, value] of Object.entries(form.values)) data.append(name, fieldText(value));
      for (const file of files) data.append(fileField || "file", file, file.name);
      body = data; // the browser sets multipart/form-data with its boundary
    } else {
      body = jsonBody(form.values, fields);
      headers["content-type"] = "application/json";
    }
    const started = performance.now();
    try {
      const response = await fetch(pathOf(webhook.url), {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        credentials: "omit",
      });
      setAnswer(await readAnswer(response, performance.now() - started));
    } catch (err) {
      setFailure(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <form class="panel call-form" onSubmit={submit} noValidate>
        <p class="muted">
          <code>POST {webhook.url.replace(/\/notebook\/.+$/, "/notebook/…")}</code>,{" "}
          {files.length > 0 ? "multipart/form-data" : "a JSON body"}: the values are typed as the notebook's
          defaults.
        </p>
        {fields.length === 0 ? (
          <p class="muted">
            The notebook has no cell tagged <code>parameters</code>: add parameters below as JSON, or call it
            as it is.
          </p>
        ) : null}
        {fields.map((field) => (
          <Field
            key={field.name}
            field={field}
            text={texts[field.name] ?? ""}
            error={errors[field.name]}
            onText={(text) => setTexts({ ...texts, [field.name]: text })}
          />
        ))}
        <details class="more">
          <summary>More parameters and files</summary>
          <label for="extra">More parameters (a JSON object)</label>
          <textarea
            id="extra"
            rows={3}
            value={extra}
            placeholder='{"name": "value"}'
            onInput={(e) => setExtra((e.target as HTMLTextAreaElement).value)}
          />
          {errors["(more parameters)"] ? <p class="field-error">{errors["(more parameters)"]}</p> : null}
          <div class="file-row">
            <label>
              Upload under the name{" "}
              <input
                type="text"
                value={fileField}
                size={12}
                onInput={(e) => setFileField((e.target as HTMLInputElement).value)}
              />
            </label>
            <input
              type="file"
              multiple
              aria-label="Files to upload"
              onChange={(e) => setFiles([...((e.target as HTMLInputElement).files ?? [])])}
            />
          </div>
        </details>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Running…" : "Call the webhook"}
        </button>
      </form>
      {failure ? (
        <p class="error-note" role="alert">
          The call failed: {failure}
        </p>
      ) : null}
      {answer ? (
        <Section title="Answer">
          <AnswerView answer={answer} />
        </Section>
      ) : null}
    </>
  );
}

function Field({
  field,
  text,
  error,
  onText,
}: {
  field: FieldSpec;
  text: string;
  error?: string;
  onText(text: string): void;
}) {
  const id = `param-${field.name}`;
  const type = field.annotation ? `${field.type} (${field.annotation})` : field.type;
  const hint = (
    <span class="muted small-text">
      {type}
      {field.default !== undefined ? ` · default ${JSON.stringify(field.default)}` : ""}
      {field.help ? ` · ${field.help}` : ""}
    </span>
  );
  if (field.type === "bool") {
    return (
      <div class="field">
        <label class="check" for={id}>
          <input
            id={id}
            name={field.name}
            type="checkbox"
            checked={/^(true|1|yes|on)$/i.test(text)}
            onChange={(e) => onText((e.target as HTMLInputElement).checked ? "true" : "false")}
          />{" "}
          <span class="mono">{field.name}</span>
        </label>
        {hint}
      </div>
    );
  }
  const multiline = field.type === "list" || field.type === "dict";
  const inputMode = field.type === "int" ? "numeric" : field.type === "float" ? "decimal" : undefined;
  return (
    <div class="field">
      <label for={id} class="mono">
        {field.name}
      </label>
      {multiline ? (
        <textarea
          id={id}
          name={field.name}
          rows={2}
          value={text}
          aria-invalid={error ? "true" : undefined}
          onInput={(e) => onText((e.target as HTMLTextAreaElement).value)}
        />
      ) : (
        <input
          id={id}
          name={field.name}
          type="text"
          inputMode={inputMode}
          value={text}
          aria-invalid={error ? "true" : undefined}
          onInput={(e) => onText((e.target as HTMLInputElement).value)}
        />
      )}
      {hint}
      {error ? (
        <p class="field-error">
          {field.name} {error}
        </p>
      ) : null}
    </div>
  );
}
