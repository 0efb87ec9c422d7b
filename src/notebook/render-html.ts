/**
 * @module Renders an executed notebook as one self-contained HTML page (respond_notebook, and
 * for people reading a run's output in a browser).
 *
 * Everything is inline: CSS in a `<style>`, images as `data:` URIs, SVG as markup; nothing is
 * fetched but what the author's own Markdown images and HTML name. Sources, text and tracebacks
 * are escaped; Markdown (cells, `text/markdown` outputs) goes through ./markdown.ts, which
 * escapes raw HTML; an output's `text/html` and `image/svg+xml` are included as they are, as
 * nbconvert does (it is the notebook author's own output, scripts included), so serve the page
 * the way you would serve the notebook.
 * Written by hand because nbconvert is Python and no maintained Node package renders nbformat
 * without a browser.
 */
import type { Cell, Notebook, Output } from "./types.js";
import { RESPONSE_MIME } from "./types.js";
import { stripAnsi } from "./ansi.js";
import { renderMarkdown } from "./markdown.js";

/** Kept for callers that imported it from here: nbhook's one Markdown renderer is ./markdown.ts. */
export { renderMarkdown };

export interface RenderHtmlOptions {
  /**
   * The page's `<title>`.
   * @default the notebook metadata's `title`, else "Notebook"
   */
  title?: string;
}

/** A complete HTML document showing every cell of `nb` with its outputs. */
export function renderNotebookHtml(nb: Notebook, options: RenderHtmlOptions = {}): string {
  const metadataTitle = typeof nb.metadata?.title === "string" ? nb.metadata.title : undefined;
  const { title = metadataTitle ?? "Notebook" } = options;
  const language = languageOf(nb);
  const cells = (nb.cells ?? []).map((cell) => renderCell(cell, language)).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nbhook">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main class="notebook">
${cells}
</main>
</body>
</html>
`;
}

const STYLE = `
:root { color-scheme: light; --border: #e0e0e0; --muted: #616161; --code-bg: #f7f7f7; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #212121;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.notebook { max-width: 1000px; margin: 0 auto; padding: 24px 16px 48px; }
.cell { display: grid; grid-template-columns: 76px minmax(0, 1fr); column-gap: 8px; margin: 10px 0; }
.prompt { grid-column: 1; color: var(--muted); font: 12px/1.9 ui-monospace, Menlo, Consolas, monospace;
  text-align: right; padding-top: 5px; white-space: nowrap; }
.prompt.out { color: #b3261e; }
.body { grid-column: 2; min-width: 0; }
pre { margin: 0; font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.source { background: var(--code-bg); border: 1px solid var(--border); border-radius: 4px; padding: 6px 10px; }
.output { padding: 4px 10px; overflow-x: auto; }
.output img, .output svg { max-width: 100%; height: auto; }
.stream.stderr { background: #fdecea; }
.error { background: #fdecea; color: #5f1b15; }
.error .ename { font-weight: bold; }
.json { color: #1b4b72; }
.missing { color: var(--muted); font-style: italic; }
.markdown { grid-column: 2; padding: 0 10px; }
.markdown pre { background: var(--code-bg); padding: 6px 10px; border-radius: 4px; }
.markdown code { background: var(--code-bg); padding: 0 3px; border-radius: 3px; }
.raw pre { color: var(--muted); }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--border); padding: 3px 8px; text-align: right; }
`;

function renderCell(cell: Cell, language: string): string {
  const source = escapeHtml(joinText(cell.source));
  if (cell.cell_type === "markdown") {
    return `<section class="cell markdown-cell"><div class="markdown">${renderMarkdown(joinText(cell.source))}</div></section>`;
  }
  if (cell.cell_type !== "code") {
    return `<section class="cell raw"><div class="body"><pre>${source}</pre></div></section>`;
  }
  const count = typeof cell.execution_count === "number" ? String(cell.execution_count) : "&nbsp;";
  const input =
    `<div class="prompt">In&nbsp;[${count}]:</div>` +
    `<div class="body"><pre class="source"><code class="language-${language}">${source}</code></pre></div>`;
  const outputs = Array.isArray(cell.outputs) ? (cell.outputs as Output[]) : [];
  return `<section class="cell code-cell">${input}${outputs.map(renderOutput).join("")}</section>`;
}

function renderOutput(output: Output): string {
  const prompt =
    output.output_type === "execute_result" && typeof output.execution_count === "number"
      ? `<div class="prompt out">Out[${output.execution_count}]:</div>`
      : `<div class="prompt"></div>`;
  return `${prompt}<div class="body">${renderOutputBody(output)}</div>`;
}

function renderOutputBody(output: Output): string {
  switch (output.output_type) {
    case "stream": {
      const name = output.name === "stderr" ? "stderr" : "stdout";
      const text = collapseCarriageReturns(stripAnsi(joinText(output.text)));
      return `<pre class="output stream ${name}">${escapeHtml(text)}</pre>`;
    }
    case "error": {
      const ename = typeof output.ename === "string" ? output.ename : "Error";
      const evalue = typeof output.evalue === "string" ? output.evalue : "";
      const traceback = Array.isArray(output.traceback) ? output.traceback.map(String).join("\n") : "";
      const header = `<span class="ename">${escapeHtml(stripAnsi(ename))}</span>: ${escapeHtml(stripAnsi(evalue))}`;
      const body = traceback ? `\n${escapeHtml(stripAnsi(traceback))}` : "";
      return `<pre class="output error">${header}${body}</pre>`;
    }
    case "display_data":
    case "execute_result":
    case "update_display_data":
      return renderMimeBundle(output.data, output.metadata);
    default:
      return `<pre class="output missing">[${escapeHtml(String(output.output_type))} output]</pre>`;
  }
}

const IMAGE_MIMES = ["image/png", "image/jpeg", "image/gif"];

/** The richest representation of a display output, in nbconvert's order of preference. */
function renderMimeBundle(rawData: unknown, rawMetadata: unknown): string {
  const data = isRecord(rawData) ? rawData : {};
  const metadata = isRecord(rawMetadata) ? rawMetadata : {};
  const html = textOf(data["text/html"]);
  if (html !== undefined) return `<div class="output html">${html}</div>`;
  const svg = textOf(data["image/svg+xml"]);
  if (svg !== undefined) return `<div class="output svg">${svg}</div>`;
  for (const mime of IMAGE_MIMES) {
    const image = textOf(data[mime]);
    if (image !== undefined) {
      const base64 = image.replace(/[^A-Za-z0-9+/=]/g, "");
      return `<div class="output image"><img src="data:${mime};base64,${base64}"${sizeOf(metadata[mime])} alt=""></div>`;
    }
  }
  const markdown = textOf(data["text/markdown"]);
  if (markdown !== undefined) return `<div class="output markdown">${renderMarkdown(markdown)}</div>`;
  if ("application/json" in data) {
    const json = JSON.stringify(data["application/json"], null, 2) ?? "null";
    return `<pre class="output json">${escapeHtml(json)}</pre>`;
  }
  for (const mime of ["text/latex", "text/plain"]) {
    const text = textOf(data[mime]);
    if (text !== undefined) return `<pre class="output text">${escapeHtml(stripAnsi(text))}</pre>`;
  }
  const kinds = Object.keys(data).filter((mime) => mime !== RESPONSE_MIME);
  if (kinds.length === 0) {
    const response = describeResponse(data[RESPONSE_MIME]);
    return response ? `<pre class="output text">${escapeHtml(response)}</pre>` : "";
  }
  return `<pre class="output missing">[${escapeHtml(kinds.join(", "))} output]</pre>`;
}

/**
 * A line for a response bundle shown with nothing else (the helpers add a text/plain line of
 * their own): its type, download name and size, never its data nor the path of its file (a
 * server folder, removed once the answer was sent).
 */
function describeResponse(bundle: unknown): string | undefined {
  if (!isRecord(bundle) || typeof bundle.content_type !== "string") return undefined;
  const name = typeof bundle.filename === "string" ? `, ${bundle.filename}` : "";
  const size =
    typeof bundle.size === "number"
      ? bundle.size
      : typeof bundle.omitted === "number"
        ? bundle.omitted
        : typeof bundle.data === "string"
          ? Buffer.byteLength(bundle.data, bundle.encoding === "base64" ? "base64" : "utf8")
          : undefined;
  const bytes =
    size === undefined ? "" : ` (${size.toLocaleString("en-US")} ${size === 1 ? "byte" : "bytes"})`;
  return `Response set: ${bundle.content_type}${name}${bytes}`;
}

function sizeOf(imageMetadata: unknown): string {
  if (!isRecord(imageMetadata)) return "";
  let attributes = "";
  for (const name of ["width", "height"]) {
    const value = imageMetadata[name];
    if (typeof value === "number" && Number.isFinite(value) && value > 0) attributes += ` ${name}="${value}"`;
  }
  return attributes;
}

/** What a terminal would show: text before a `\r` in a line is overwritten by what follows. */
function collapseCarriageReturns(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const parts = line.replace(/\r+$/, "").split("\r");
      return parts[parts.length - 1] ?? "";
    })
    .join("\n");
}

function languageOf(nb: Notebook): string {
  const info = nb.metadata?.language_info?.name ?? nb.metadata?.kernelspec?.language;
  const name = typeof info === "string" ? info.toLowerCase() : "";
  return name.replace(/[^a-z0-9+#-]/g, "") || "text";
}

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function joinText(value: unknown): string {
  return textOf(value) ?? "";
}

/** nbformat multi-line text (a string or an array of lines) as one string. */
function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((line) => typeof line === "string")) return value.join("");
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
