/**
 * What a webhook call answers over real HTTP (loopback) with a real ipykernel: every respond_*
 * kind byte for byte with its content type, the download name or `inline`, the notebook's own
 * status and headers, `next_url`, and the answer without a response.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderNotebookHtml } from "../../src/notebook/render-html.js";
import { parseNotebook } from "../../src/notebook/read.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { WebhookParams } from "../../src/store/index.js";
import { ALL_BYTES, pngBytes } from "../support/images.js";
import { CLUSTER_TARGET, startClusterApi } from "../support/cluster-api.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();

let server: RunningServer;
beforeAll(async () => {
  if (CLUSTER_TARGET) {
    server = await startClusterApi({ workers: 2 }); // npm run test:cluster: 2 API nodes, 2 workers
    return;
  }
  const home = mkdtempSync(path.join(os.tmpdir(), "trigger-home-"));
  server = await startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home }, {}));
});
afterAll(async () => server?.close());

let deployed = 0;
/** Deploys the cells as `report.ipynb` (a fresh path each time) and returns the webhook. */
async function deploy(
  cells: CellSpec[],
  params: WebhookParams = {},
  files: Record<string, Buffer> = {},
  kernel: Parameters<typeof makeNotebook>[1] = "python3",
) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/nb${++deployed}/report.ipynb`,
    params,
    debug: false,
    timeoutMs: 60_000,
  });
  for (const [name, data] of Object.entries(files)) await store.writeFile(webhook.id, name, data);
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells, kernel))));
  return { ...webhook, url: `${server.url}/notebook/${webhook.token}` };
}

async function call(url: string, init?: RequestInit) {
  const res = await fetch(url, { redirect: "manual", ...init });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

const py = (text: string) => JSON.stringify(text);
const pyBytes = (bytes: Buffer) => `__import__("base64").b64decode("${bytes.toString("base64")}")`;
const TEXT = 'Zoë, 東京 😀 <&> "q"\nline 2\n';
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><text>é</text></svg>';

describe("each respond_* kind through HTTP", () => {
  const cases = [
    {
      kind: "json",
      code: `naas.webhook.respond_json({"a": 1, "b": "Zoë"})`,
      type: "application/json; charset=utf-8",
      body: '{"a": 1, "b": "Zoë"}',
      file: "report.json",
    },
    {
      kind: "html",
      code: `naas.webhook.respond_html(${py(`<p>${TEXT}</p>`)})`,
      type: "text/html; charset=utf-8",
      body: `<p>${TEXT}</p>`,
      file: "report.html",
    },
    {
      kind: "text",
      code: `naas.webhook.respond_text(${py(TEXT)})`,
      type: "text/plain; charset=utf-8",
      body: TEXT,
      file: "report.txt",
    },
    {
      kind: "csv",
      code: `naas.webhook.respond_csv(${py("a;b\n1;Zoë\n")})`,
      type: "text/csv; charset=utf-8",
      body: "a;b\n1;Zoë\n",
      file: "report.csv",
    },
    {
      kind: "svg",
      code: `naas.webhook.respond_svg(${py(SVG)})`,
      type: "image/svg+xml; charset=utf-8",
      body: SVG,
      file: "report.svg",
    },
  ];
  for (const { kind, code, type, body, file } of cases) {
    it(`answers respond_${kind} as ${type}, byte for byte, as an attachment named ${file}`, async () => {
      const { url } = await deploy(["import naas", code]);
      const { res, body: got } = await call(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${file}"`);
      expect(got.equals(Buffer.from(body, "utf8"))).toBe(true);
    });
  }

  it("answers respond_image with the PNG's exact bytes as image/png", async () => {
    const { url } = await deploy(["import naas", `naas.webhook.respond_image(${pyBytes(pngBytes())})`]);
    const { res, body } = await call(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="report.png"');
    expect(body.equals(pngBytes())).toBe(true);
  });

  it("answers respond_file with a binary dependency file's exact bytes under its own name", async () => {
    const data = Buffer.concat([ALL_BYTES, Buffer.from(ALL_BYTES).reverse()]);
    const { url } = await deploy(
      ["import naas", `naas.webhook.respond_file("data.bin")`],
      {},
      { "data.bin": data },
    );
    const { res, body } = await call(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="data.bin"');
    expect(body.equals(data)).toBe(true);
  });

  // The Naas guide's example, a <script> and a table: rendered by the server (markdown-it) from the
  // Markdown the helper sent, the same for Python and TypeScript notebooks.
  const MARKDOWN =
    "# Hello Naas friends<br /> Do you love markdown as much as we do?\n\n" +
    "<script>alert(1)</script> **Zoë** [x](javascript:alert(1))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
  const MARKDOWN_HTML =
    "<h1>Hello Naas friends<br>\n Do you love markdown as much as we do?</h1>\n" +
    "<p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>Zoë</strong> [x](javascript:alert(1))</p>\n" +
    "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n" +
    "<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n";
  const markdownCases = [
    {
      language: "Python",
      kernel: "python3",
      cells: ["import naas", `naas.webhook.respond_markdown(${py(MARKDOWN)})`],
    },
    {
      language: "TypeScript",
      kernel: "deno",
      cells: [`await nbhook.webhook.respond_markdown(${py(MARKDOWN)})`],
    },
  ] as const;
  for (const { language, kernel, cells } of markdownCases) {
    it(`answers respond_markdown of a ${language} notebook as text/html rendered by the server`, async () => {
      const webhook = await deploy([...cells], {}, {}, kernel);
      const { res, body } = await call(webhook.url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("content-disposition")).toBe('attachment; filename="report.html"');
      expect(body.toString("utf8")).toBe(MARKDOWN_HTML);
      // The saved notebook shows the Markdown itself, for Jupyter to render.
      const run = await server.deps.store.getRun(res.headers.get("x-nbhook-run-id")!);
      const saved = await server.deps.store.readOutput(webhook.id, run!.outputHisto);
      const cell = parseNotebook(saved!.toString("utf8")).cells.at(-1) as CodeCell;
      const shown = (cell.outputs[0]?.data as Record<string, unknown>)["text/markdown"];
      expect([shown].flat().join("")).toBe(MARKDOWN);
    });
  }

  it("answers respond_notebook with the saved output notebook rendered to HTML", async () => {
    const webhook = await deploy([
      "import naas",
      "print('printed in the run')",
      "naas.webhook.respond_notebook()",
    ]);
    const { res, body } = await call(webhook.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const runId = res.headers.get("x-nbhook-run-id")!;
    const run = await server.deps.store.getRun(runId);
    const saved = await server.deps.store.readOutput(webhook.id, run!.outputHisto);
    expect(body.toString("utf8")).toBe(renderNotebookHtml(parseNotebook(saved!.toString("utf8"))));
    expect(body.toString("utf8")).toContain("printed in the run");
  });

  it("answers an output the real Naas library wrote (naas_api metadata) as Naas did", async () => {
    const { url } = await deploy([
      "from IPython.display import display, JSON\n" +
        'display(JSON({"x": [1, 2], "name": "Zoë"}), metadata={"application/json": {"naas_api": True}})',
    ]);
    const { res, body } = await call(url);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(body.toString("utf8")).toBe('{"x": [1, 2], "name": "Zo\\u00eb"}');
  });
});

describe("download name, inline, status, headers", () => {
  it("sends no Content-Disposition when the webhook is inline", async () => {
    const { url } = await deploy(["import naas", `naas.webhook.respond_html("<b>hi</b>")`], { inline: true });
    const { res, body } = await call(url);
    expect(res.headers.get("content-disposition")).toBeNull();
    expect(body.toString()).toBe("<b>hi</b>");
  });

  it("names a non-ASCII file with an ASCII stand-in and RFC 6266 filename*", async () => {
    const { url } = await deploy(
      ["import naas", `naas.webhook.respond_file("résumé 1.txt")`],
      {},
      { "résumé 1.txt": Buffer.from("cv") },
    );
    const { res } = await call(url);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="r_sum_ 1.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt`,
    );
  });

  it("uses the notebook's status and headers, dropping those only the server may set", async () => {
    const { url } = await deploy([
      "from nbhook import webhook\n" +
        'webhook.respond_json({"made": True}, status=201, headers={"X-Custom": "yes", "Cache-Control": "max-age=60", ' +
        '"Set-Cookie": "s=1", "Content-Length": "1", "Transfer-Encoding": "chunked", "Connection": "close"})',
    ]);
    const { res, body } = await call(url);
    expect(res.status).toBe(201);
    expect(res.headers.get("x-custom")).toBe("yes");
    expect(res.headers.get("cache-control")).toBe("max-age=60");
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(res.headers.get("content-length")).toBe(String(body.length));
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(body.toString()).toBe('{"made": true}');
  });

  it("answers 302 to next_url after the run, instead of the response", async () => {
    const { url } = await deploy(["import naas", `naas.webhook.respond_text("unused")`], {
      next_url: "https://example.com/thanks?x=1",
    });
    const { res, body } = await call(url);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://example.com/thanks?x=1");
    expect(res.headers.get("x-nbhook-run-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.length).toBe(0);
  });

  it("does not redirect to next_url when the run failed", async () => {
    const { url } = await deploy(["raise RuntimeError('no')"], { next_url: "https://example.com/thanks" });
    const { res } = await call(url);
    expect(res.status).toBe(500);
    expect(res.headers.get("location")).toBeNull();
  });

  it("answers 200 {id, status, time} without a response, the id being the run's", async () => {
    const webhook = await deploy(["x = 1 + 1"]);
    const { res, body } = await call(webhook.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBeNull();
    const json = JSON.parse(body.toString()) as { id: string; status: string; time: number };
    expect(json).toEqual({
      id: res.headers.get("x-nbhook-run-id"),
      status: "Done",
      time: expect.any(Number),
    });
    expect(json.time).toBeGreaterThan(0);
    const run = await server.deps.store.getRun(json.id);
    expect(run).toMatchObject({ webhookId: webhook.id, status: "ok", httpStatus: 200 });
  });
});
