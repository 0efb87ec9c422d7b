/**
 * nbhook's in-kernel helper for TypeScript notebooks on Deno's Jupyter kernel: the twin of the
 * Python `nbhook.webhook` module. Each `respond*` call displays the response bundle
 * (`application/vnd.nbhook.response+json`, see DESIGN.md "Response") next to an ordinary
 * rendering; the first response in cell order is the run's answer.
 *
 * In a run, nbhook predefines `nbhook` (this module) in the kernel, so a notebook writes
 *   await nbhook.webhook.respond_json({ total: 42 });
 * or, for editor support, imports it from the path in the env variable NBHOOK_DENO_MODULE.
 * Functions return the display promise: `await` them so the output is sent before the cell ends.
 */

export const RESPONSE_MIME = "application/vnd.nbhook.response+json";

export interface RespondOptions {
  /** HTTP status, 200–599 (default 200). */
  status?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

interface ResponseBundle {
  content_type: string;
  data: string;
  encoding: "utf-8" | "base64";
  filename?: string;
  status?: number;
  headers?: Record<string, string>;
  kind?: "notebook";
  /** The server renders `data` (text/markdown) to this type and answers that (respond_markdown). */
  render?: "text/html";
}

declare const Deno: {
  jupyter?: { display(obj: unknown, options?: { raw?: boolean }): Promise<void> };
  readFile(path: string): Promise<Uint8Array>;
};

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function check(options: RespondOptions): Pick<ResponseBundle, "status" | "headers"> {
  const { status, headers } = options;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
    throw new RangeError(`status must be an HTTP status code from 200 to 599, got ${status}`);
  }
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new TypeError(`"${name}" is not a valid header name`);
    if (/[\r\n\0]/.test(String(value)))
      throw new TypeError(`the value of header "${name}" contains a line break`);
  }
  return { ...(status !== undefined ? { status } : {}), ...(headers ? { headers } : {}) };
}

function publish(response: ResponseBundle, rendering: Record<string, unknown>, size: number): Promise<void> {
  const name = response.filename ? `, ${response.filename}` : "";
  const rendered = response.render ? `, answered as ${response.render}` : "";
  const description =
    response.kind === "notebook"
      ? "Response set: the executed notebook, as text/html"
      : `Response set: ${response.content_type}${name} (${size} ${size === 1 ? "byte" : "bytes"})${rendered}`;
  const bundle = { [RESPONSE_MIME]: response, ...rendering, "text/plain": description };
  if (!Deno.jupyter) {
    console.log(description);
    return Promise.resolve();
  }
  return Deno.jupyter.display(bundle, { raw: true });
}

function respondText(
  contentType: string,
  text: string,
  rendering: Record<string, unknown>,
  options: RespondOptions,
  render?: ResponseBundle["render"],
) {
  const response: ResponseBundle = {
    content_type: contentType,
    data: text,
    encoding: "utf-8",
    ...check(options),
    ...(render ? { render } : {}),
  };
  return publish(response, rendering, new TextEncoder().encode(text).length);
}

function respondBytes(
  contentType: string,
  bytes: Uint8Array,
  filename: string | undefined,
  options: RespondOptions,
) {
  const data = toBase64(bytes);
  const response: ResponseBundle = {
    content_type: contentType,
    data,
    encoding: "base64",
    ...(filename ? { filename } : {}),
    ...check(options),
  };
  const rendering = contentType.startsWith("image/") ? { [contentType]: data } : {};
  return publish(response, rendering, bytes.length);
}

function sniffImage(bytes: Uint8Array): string | undefined {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "image/gif";
  return undefined;
}

const FILE_TYPES: Record<string, string> = {
  csv: "text/csv",
  txt: "text/plain",
  html: "text/html",
  htm: "text/html",
  json: "application/json",
  md: "text/markdown",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  pdf: "application/pdf",
  xml: "application/xml",
  zip: "application/zip",
  gz: "application/gzip",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ipynb: "application/x-ipynb+json",
  js: "text/javascript",
  css: "text/css",
  yaml: "application/yaml",
  yml: "application/yaml",
  parquet: "application/vnd.apache.parquet",
};

function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function rowsToCsv(rows: unknown[]): string {
  if (rows.length && rows.every((r) => r && typeof r === "object" && !Array.isArray(r))) {
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r as object)))];
    const lines = rows.map((r) => columns.map((c) => csvField((r as Record<string, unknown>)[c])).join(","));
    return [columns.map(csvField).join(","), ...lines].map((l) => `${l}\n`).join("");
  }
  return rows.map((r) => `${(Array.isArray(r) ? r : [r]).map(csvField).join(",")}\n`).join("");
}

/** JSON.stringify that never throws: BigInt as number or string, Error as {error, message}, cycles cut. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Error) return { error: v.name, message: v.message };
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      if (typeof v === "number" && !Number.isFinite(v)) return null;
      if (v && typeof v === "object") {
        if (seen.has(v)) return "[Circular]";
        seen.add(v);
      }
      return v === undefined ? null : v;
    }) ?? "null"
  );
}

export const webhook = {
  respond_html(html: string, options: RespondOptions = {}) {
    return respondText("text/html", String(html), { "text/html": String(html) }, options);
  },
  respond_json(value: unknown, options: RespondOptions = {}) {
    const text = safeJson(value);
    return respondText("application/json", text, { "application/json": JSON.parse(text) }, options);
  },
  respond_text(text: string, options: RespondOptions = {}) {
    return respondText(
      "text/plain",
      String(text),
      { "text/html": `<pre>${escapeHtml(String(text))}</pre>` },
      options,
    );
  },
  /**
   * Answers text/html rendered from the Markdown by the server (nbhook's one renderer, the same
   * as for Python notebooks): the bundle carries the Markdown with `render: "text/html"`, and the
   * notebook shows it as text/markdown.
   */
  respond_markdown(markdown: string, options: RespondOptions = {}) {
    const text = String(markdown);
    return respondText("text/markdown", text, { "text/markdown": text }, options, "text/html");
  },
  respond_svg(svg: string, options: RespondOptions = {}) {
    return respondText("image/svg+xml", String(svg), { "image/svg+xml": String(svg) }, options);
  },
  respond_csv(data: string | unknown[], options: RespondOptions = {}) {
    const text = typeof data === "string" ? data : rowsToCsv(data);
    return respondText("text/csv", text, { "text/html": `<pre>${escapeHtml(text)}</pre>` }, options);
  },
  async respond_image(data: Uint8Array | string, filename?: string, options: RespondOptions = {}) {
    const bytes = typeof data === "string" ? await Deno.readFile(data) : data;
    const type = sniffImage(bytes);
    if (!type)
      throw new TypeError("respond_image takes PNG, JPEG or GIF bytes; use respond_svg or respond_file");
    const name = filename ?? (typeof data === "string" ? basename(data) : undefined);
    return respondBytes(type, bytes, name, options);
  },
  async respond_file(path: string, filename?: string, options: RespondOptions = {}) {
    const bytes = await Deno.readFile(path);
    const name = basename(filename ?? path);
    const ext = name.includes(".") ? name.split(".").pop()!.toLowerCase() : "";
    return respondBytes(FILE_TYPES[ext] ?? "application/octet-stream", bytes, name, options);
  },
  respond_notebook(options: RespondOptions = {}) {
    return publish(
      { content_type: "text/html", data: "", encoding: "utf-8", kind: "notebook", ...check(options) },
      {},
      0,
    );
  },
};

const SECRET_PREFIX = "NBHOOK_SECRET_";

/**
 * Secrets (docs/secrets.md), as the Python helper's `secret`: `get("OPENAI_KEY")` is
 * `$NBHOOK_SECRET_OPENAI_KEY`, else `$OPENAI_KEY`, else `fallback` (null); a name that is not a
 * variable name is also tried upper-cased with other characters as `_`. nbhook gives a run the
 * secrets stored for its webhook as those variables.
 */
export const secret = {
  get(name: string, fallback: string | null = null): string | null {
    const normalized = String(name)
      .replace(/[^A-Za-z0-9_]/g, "_")
      .toUpperCase();
    for (const variable of [SECRET_PREFIX + name, SECRET_PREFIX + normalized, name, normalized]) {
      const value = Deno.env.get(variable);
      if (value !== undefined) return value;
    }
    return fallback;
  },
  list(): string[] {
    return Object.keys(Deno.env.toObject())
      .filter((k) => k.startsWith(SECRET_PREFIX) && k !== SECRET_PREFIX)
      .map((k) => k.slice(SECRET_PREFIX.length))
      .sort();
  },
};

export default { webhook, secret };
