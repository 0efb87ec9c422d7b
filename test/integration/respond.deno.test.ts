/**
 * What a TypeScript notebook answers on Deno's Jupyter kernel (bundled through the `deno` npm
 * package), end to end through executeNotebook: the predefined `nbhook` binding and the module
 * imported from NBHOOK_DENO_MODULE.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findKernelSpecs } from "../../src/kernel/index.js";
import { renderNotebookHtml } from "../../src/notebook/render-html.js";
import type { CodeCell, NotebookResponse } from "../../src/notebook/types.js";
import { executeNotebook, type ExecutionResult } from "../../src/runs/index.js";
import { ALL_BYTES, gifBytes, jpegBytes, pngBytes } from "../support/images.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, writeTempNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), "respond-deno-"));

/** Runs the cells on Deno with a fresh folder as the kernel's working directory unless one is given. */
function run(cells: CellSpec[], cwd = tempDir()): Promise<ExecutionResult> {
  return executeNotebook(makeNotebook(cells, "deno"), { specs, cwd });
}

async function respond(cells: CellSpec[], cwd?: string): Promise<NotebookResponse> {
  const result = await run(cells, cwd);
  expect(result.error).toBeUndefined();
  expect(result.status).toBe("ok");
  expect(result.response).toBeDefined();
  return result.response!;
}

const code = (result: ExecutionResult, i: number) => result.notebook.cells[i] as CodeCell;
/** A TypeScript expression for `bytes`, as a Uint8Array. */
const tsBytes = (bytes: Buffer) =>
  `Uint8Array.from(atob("${bytes.toString("base64")}"), (c) => c.charCodeAt(0))`;
const ts = (text: string) => JSON.stringify(text);
const utf8 = (text: string) => Buffer.from(text, "utf8");
/** The helper imported the way an editor-friendly notebook does it. */
const IMPORTED = 'const helper = await import(Deno.env.get("NBHOOK_DENO_MODULE")!);\n';

const TEXT = 'Zoë, 東京, emoji 😀 <&> "quoted"\nsecond line\n';
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>é 😀</text></svg>';

describe("respond_* from nbhook's Deno helper on Deno's Jupyter kernel", () => {
  const textCases = [
    {
      kind: "html",
      source: `await nbhook.webhook.respond_html(${ts(`<p>${TEXT}</p>`)})`,
      type: "text/html",
      body: `<p>${TEXT}</p>`,
    },
    {
      kind: "text",
      source: `${IMPORTED}await helper.webhook.respond_text(${ts(TEXT)})`,
      type: "text/plain",
      body: TEXT,
    },
    { kind: "svg", source: `await nbhook.webhook.respond_svg(${ts(SVG)})`, type: "image/svg+xml", body: SVG },
    {
      kind: "csv (text)",
      source: `${IMPORTED}await helper.webhook.respond_csv(${ts("a,b\r\n1,Zoë\r\n")})`,
      type: "text/csv",
      body: "a,b\r\n1,Zoë\r\n",
    },
    {
      kind: "csv (rows)",
      source: `await nbhook.webhook.respond_csv([{ a: 1, b: "x,y" }, { a: 2, b: 'say "hi"', c: null }])`,
      type: "text/csv",
      body: 'a,b,c\n1,"x,y",\n2,"say ""hi""",\n',
    },
  ];
  for (const { kind, source, type, body } of textCases) {
    it(`answers respond_${kind} as ${type}, byte for byte`, async () => {
      const response = await respond([source]);
      expect(response).toEqual({ contentType: type, body: utf8(body) });
    });
  }

  it("answers respond_markdown as text/html rendered by the server, and shows the Markdown", async () => {
    const markdown =
      "# Hello Naas friends<br /> Do you love markdown?\n\nSome **bold** Zoë, <script>alert(1)</script> " +
      "`code` and [x](javascript:alert(1)).\n\n> quoted\n";
    const result = await run([
      `${IMPORTED}await helper.webhook.respond_markdown(${ts(markdown)}, { status: 202 })`,
    ]);
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({
      contentType: "text/html",
      body: utf8(
        "<h1>Hello Naas friends<br>\n Do you love markdown?</h1>\n" +
          "<p>Some <strong>bold</strong> Zoë, &lt;script&gt;alert(1)&lt;/script&gt; <code>code</code> and " +
          "[x](javascript:alert(1)).</p>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n",
      ),
      status: 202,
    });
    expect(code(result, 0).outputs[0]).toMatchObject({
      output_type: "display_data",
      data: {
        "application/vnd.nbhook.response+json": {
          content_type: "text/markdown",
          data: markdown,
          encoding: "utf-8",
          status: 202,
          render: "text/html",
        },
        "text/markdown": markdown,
        "text/plain": expect.stringMatching(
          /^Response set: text\/markdown \(\d+ bytes\), answered as text\/html$/,
        ),
      },
    });
  });

  it("answers respond_json with values JSON.stringify cannot write converted", async () => {
    const response = await respond([
      "await nbhook.webhook.respond_json({ when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), big: 7n, huge: 2n ** 70n,\n" +
        '  err: new RangeError("bad input"), nan: NaN, inf: -Infinity, map: new Map([["k", 1]]), set: new Set([1, 2]),\n' +
        '  name: "Zoë 😀", nested: { list: [1, undefined, null] } })',
    ]);
    expect(response.contentType).toBe("application/json");
    expect(response.body.toString("utf8")).toBe(
      '{"when":"2024-01-02T03:04:05.000Z","big":7,"huge":"1180591620717411303424",' +
        '"err":{"error":"RangeError","message":"bad input"},"nan":null,"inf":null,"map":{"k":1},"set":[1,2],' +
        '"name":"Zoë 😀","nested":{"list":[1,null,null]}}',
    );
  });

  it("passes status and headers through, from the imported module too", async () => {
    const response = await respond([
      `${IMPORTED}await helper.webhook.respond_json({ created: true }, { status: 201, headers: { "X-Request-Id": "abc-123" } })`,
    ]);
    expect(response).toEqual({
      contentType: "application/json",
      body: utf8('{"created":true}'),
      status: 201,
      headers: { "X-Request-Id": "abc-123" },
    });
  });

  const imageCases = [
    { format: "PNG", bytes: pngBytes(), args: "", extra: {}, type: "image/png" },
    {
      format: "JPEG",
      bytes: jpegBytes(),
      args: ', "photo.jpg"',
      extra: { filename: "photo.jpg" },
      type: "image/jpeg",
    },
    {
      format: "GIF",
      bytes: gifBytes(),
      args: ", undefined, { status: 202 }",
      extra: { status: 202 },
      type: "image/gif",
    },
  ];
  for (const { format, bytes, args, extra, type } of imageCases) {
    it(`answers respond_image with ${format} bytes, byte for byte`, async () => {
      const result = await run([`await nbhook.webhook.respond_image(${tsBytes(bytes)}${args})`]);
      expect(result.status).toBe("ok");
      expect(result.response).toEqual({ contentType: type, body: bytes, ...extra });
      const shown = code(result, 0).outputs[0] as { data: Record<string, unknown> };
      expect(shown.data[type]).toBe(bytes.toString("base64"));
    });
  }

  it("answers respond_image with an image file's bytes, named after the file", async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, "anim.gif"), gifBytes());
    const response = await respond([`${IMPORTED}await helper.webhook.respond_image("anim.gif")`], cwd);
    expect(response).toEqual({ contentType: "image/gif", body: gifBytes(), filename: "anim.gif" });
  });

  it("answers respond_file with a binary file the notebook wrote in its working directory, byte for byte", async () => {
    const cwd = tempDir();
    const response = await respond(
      [
        'await Deno.writeFile("all-bytes.bin", Uint8Array.from({ length: 256 }, (_, i) => i));',
        'await nbhook.webhook.respond_file("all-bytes.bin", undefined, { headers: { "X-Kind": "blob" } })',
      ],
      cwd,
    );
    expect(readFileSync(path.join(cwd, "all-bytes.bin")).equals(ALL_BYTES)).toBe(true);
    expect(response).toEqual({
      contentType: "application/octet-stream",
      body: ALL_BYTES,
      filename: "all-bytes.bin",
      headers: { "X-Kind": "blob" },
    });
  });

  it("answers respond_file with a file beside the notebook when the notebook's folder is the cwd", async () => {
    const nb = makeNotebook(
      [`${IMPORTED}await helper.webhook.respond_file("report.csv", "export.csv")`],
      "deno",
    );
    const dir = path.dirname(writeTempNotebook(nb));
    const csv = Buffer.concat([utf8("name;city\r\nZoë;"), Buffer.from([0xe9, 0xff, 0x00]), utf8("\r\n")]);
    writeFileSync(path.join(dir, "report.csv"), csv);
    const result = await executeNotebook(nb, { specs, cwd: dir });
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({ contentType: "text/csv", body: csv, filename: "export.csv" });
  });

  it("answers respond_notebook with the executed notebook as HTML, outputs of later cells included", async () => {
    const result = await run([
      { source: "# Monthly report", type: "markdown" },
      `console.log("computed", 6 * 7);`,
      "await nbhook.webhook.respond_notebook()",
      `await Deno.jupyter.display({ "text/html": "<b>shown after the response</b>" }, { raw: true });`,
    ]);
    expect(result.status).toBe("ok");
    expect(result.response).toMatchObject({ contentType: "text/html", kind: "notebook" });
    const page = result.response!.body.toString("utf8");
    expect(page).toBe(renderNotebookHtml(result.notebook));
    expect(page).toContain("Monthly report");
    expect(page).toContain("computed 42");
    expect(page).toContain("<b>shown after the response</b>");
  });
});

describe("which response counts, on Deno's Jupyter kernel", () => {
  it("answers with the first response in cell order and still runs every later cell", async () => {
    const result = await run([
      'await nbhook.webhook.respond_text("first");\nawait nbhook.webhook.respond_text("same cell, later");',
      `${IMPORTED}await helper.webhook.respond_json({ second: true });`,
      `await Deno.jupyter.display({ "text/plain": "cell 3 ran" }, { raw: true });`,
    ]);
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({ contentType: "text/plain", body: utf8("first") });
    expect(code(result, 0).outputs).toHaveLength(2);
    expect(code(result, 1).outputs).toHaveLength(1);
    expect(code(result, 2).outputs).toEqual([
      { output_type: "display_data", data: { "text/plain": "cell 3 ran" }, metadata: {} },
    ]);
  });

  it("fails the run and drops the response when a cell after respond_* throws", async () => {
    const result = await run([
      "await nbhook.webhook.respond_json({ ok: true });",
      'throw new Error("failed after responding");',
      'console.log("never");',
    ]);
    expect(result.status).toBe("error");
    expect(result.response).toBeUndefined();
    expect(result.error).toMatchObject({ ename: "Error", evalue: "failed after responding", cellIndex: 1 });
    expect(code(result, 2).execution_count).toBeNull();
  });
});
