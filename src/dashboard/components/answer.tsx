/**
 * An HTTP answer of a webhook as the Try page and a run's page show it: status, headers, and the
 * body by its type (JSON pretty-printed, text, images, HTML in a sandboxed frame, else a download).
 */
import { useEffect, useMemo } from "preact/hooks";
import { size } from "../format.js";

export interface Answer {
  status: number;
  /** fetch with `redirect: "manual"` hides a redirect's target: only that it was one. */
  redirect: boolean;
  headers: [string, string][];
  contentType: string;
  body: Blob;
  /** The body as text, when it is text (at most PREVIEW_CHARS). */
  text?: string;
  ms?: number;
}

const PREVIEW_CHARS = 200_000;

function isText(type: string): boolean {
  return /^text\/|json|xml|csv|javascript|markdown|yaml/.test(type);
}

export async function readAnswer(response: Response, ms?: number): Promise<Answer> {
  const contentType = (response.headers.get("content-type") ?? "").toLowerCase();
  const body = await response.blob();
  const text = isText(contentType) ? await body.slice(0, PREVIEW_CHARS).text() : undefined;
  return {
    status: response.status,
    redirect: response.type === "opaqueredirect",
    headers: [...response.headers.entries()],
    contentType,
    body,
    text,
    ms,
  };
}

export function AnswerView({ answer }: { answer: Answer }) {
  const url = useMemo(() => URL.createObjectURL(answer.body), [answer.body]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  const runId = answer.headers.find(([name]) => name === "x-nbhook-run-id")?.[1];
  const filename = /filename="?([^";]+)"?/.exec(
    answer.headers.find(([name]) => name === "content-disposition")?.[1] ?? "",
  )?.[1];
  return (
    <div class="answer" data-testid="answer">
      <p class="answer-status">
        {answer.redirect ? (
          <strong>A redirect (the webhook's next_url)</strong>
        ) : (
          <strong class={answer.status < 400 ? "ok-text" : "error-text"} data-testid="answer-status">
            HTTP {answer.status}
          </strong>
        )}
        {answer.contentType ? <span class="muted"> · {answer.contentType}</span> : null}
        <span class="muted"> · {size(answer.body.size)}</span>
        {answer.ms !== undefined ? <span class="muted"> · {Math.round(answer.ms)} ms</span> : null}
        {runId ? (
          <>
            {" · "}
            <a href={`/runs/${encodeURIComponent(runId)}`}>open the run</a>
          </>
        ) : null}
      </p>
      <details>
        <summary>Headers ({answer.headers.length})</summary>
        <table class="headers">
          <tbody>
            {answer.headers.map(([name, value]) => (
              <tr key={name}>
                <th>{name}</th>
                <td>{value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <Body answer={answer} url={url} filename={filename} />
    </div>
  );
}

function Body({ answer, url, filename }: { answer: Answer; url: string; filename?: string }) {
  const type = answer.contentType;
  if (answer.redirect || answer.body.size === 0) return null;
  if (type.startsWith("image/")) {
    return <img class="answer-image" src={url} alt={filename ?? "the webhook's image"} />;
  }
  if (type.startsWith("text/html") && answer.text !== undefined) {
    // The notebook's HTML: in a frame with no scripts, no same-origin rights, no forms.
    return <iframe class="answer-frame" title="The HTML answer" sandbox="" srcdoc={answer.text} />;
  }
  if (answer.text !== undefined) {
    let shown = answer.text;
    if (type.includes("json")) {
      try {
        shown = JSON.stringify(JSON.parse(answer.text), null, 2);
      } catch {
        // not JSON after all: shown as it came
      }
    }
    return (
      <pre class="answer-body" data-testid="answer-body">
        {shown}
        {answer.body.size > PREVIEW_CHARS ? "\n…" : ""}
      </pre>
    );
  }
  return (
    <p>
      <a class="button" href={url} download={filename ?? "answer"}>
        Download the answer
      </a>
    </p>
  );
}
