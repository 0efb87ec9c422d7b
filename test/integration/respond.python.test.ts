/**
 * What a Python notebook answers, end to end: nbhook's helper (`import nbhook` / `import naas`)
 * and outputs written the way the real Naas library writes them, executed on Debian's ipykernel
 * through executeNotebook.
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

/** A fresh folder under this file's private temp dir (removed when the file ends). */
const tempDir = () => mkdtempSync(path.join(os.tmpdir(), "respond-"));

/** Runs the cells with a fresh folder as the kernel's working directory unless one is given. */
function run(cells: CellSpec[], cwd = tempDir()): Promise<ExecutionResult> {
  return executeNotebook(makeNotebook(cells), { specs, cwd });
}

/** Runs the cells, expects a successful run with a response, and returns the response. */
async function respond(cells: CellSpec[], cwd?: string): Promise<NotebookResponse> {
  const result = await run(cells, cwd);
  expect(result.error).toBeUndefined();
  expect(result.status).toBe("ok");
  expect(result.response).toBeDefined();
  return result.response!;
}

const code = (result: ExecutionResult, i: number) => result.notebook.cells[i] as CodeCell;
/** A Python expression for `bytes`. */
const pyBytes = (bytes: Buffer) => `__import__("base64").b64decode("${bytes.toString("base64")}")`;
/** A Python string literal (JSON's string syntax is Python's for these texts). */
const py = (text: string) => JSON.stringify(text);
const utf8 = (text: string) => Buffer.from(text, "utf8");

const TEXT = 'Zoë, 東京, emoji 😀 <&> "quoted"\nsecond line\n';
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>é 😀</text></svg>';

describe("respond_* from nbhook's Python helper on Debian's ipykernel", () => {
  const textCases = [
    {
      kind: "html",
      source: `import naas\nnaas.webhook.respond_html(${py(`<p>${TEXT}</p>`)})`,
      type: "text/html",
      body: `<p>${TEXT}</p>`,
    },
    {
      kind: "text",
      source: `from nbhook import webhook\nwebhook.respond_text(${py(TEXT)})`,
      type: "text/plain",
      body: TEXT,
    },
    {
      kind: "svg",
      source: `import naas\nnaas.webhook.respond_svg(${py(SVG)})`,
      type: "image/svg+xml",
      body: SVG,
    },
    {
      kind: "csv (text)",
      source: `import naas\nnaas.webhook.respond_csv(${py("a,b\r\n1,Zoë\r\n")})`,
      type: "text/csv",
      body: "a,b\r\n1,Zoë\r\n",
    },
    {
      kind: "csv (DataFrame)",
      source: `import pandas as pd\nfrom nbhook import webhook\nwebhook.respond_csv(pd.DataFrame({"a": [1, 2], "b": ["x", "y,z"]}))`,
      type: "text/csv",
      body: ',a,b\n0,1,x\n1,2,"y,z"\n',
    },
    {
      // Imported as naas: what Naas answered (the same as the real Naas library's output below).
      kind: "csv (DataFrame, import naas)",
      source: `import pandas as pd\nimport naas\nnaas.webhook.respond_csv(pd.DataFrame({"a": [1, 2], "b": ["x & y", 'say "hi"']}))`,
      type: "text/csv",
      body: '"";"a";"b"\n"0";"1";"x & y"\n"1";"2";"say ""hi"""\n',
    },
    {
      kind: "json (a JSON text)",
      source: `import naas\nnaas.webhook.respond_json('{"already": [1, 2]}')`,
      type: "application/json",
      body: '{"already": [1, 2]}',
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
      "and a [link](https://example.com).\n\n- one\n- two\n";
    const result = await run([`from nbhook import webhook\nwebhook.respond_markdown(${py(markdown)})`]);
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({
      contentType: "text/html",
      body: utf8(
        "<h1>Hello Naas friends<br>\n Do you love markdown?</h1>\n" +
          "<p>Some <strong>bold</strong> Zoë, &lt;script&gt;alert(1)&lt;/script&gt; and a " +
          '<a href="https://example.com" rel="noopener noreferrer">link</a>.</p>\n' +
          "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
      ),
    });
    expect(code(result, 0).outputs[0]).toMatchObject({
      output_type: "display_data",
      data: {
        "application/vnd.nbhook.response+json": {
          content_type: "text/markdown",
          data: markdown,
          encoding: "utf-8",
          render: "text/html",
        },
        "text/markdown": markdown,
        "text/plain": `Response set: text/markdown (${utf8(markdown).length} bytes), answered as text/html`,
      },
    });
  });

  it("answers respond_json with values json cannot serialize converted, in the given key order", async () => {
    const response = await respond([
      "import datetime, numpy as np, pandas as pd\nfrom nbhook import webhook\n" +
        "webhook.respond_json({'when': datetime.datetime(2024, 1, 2, 3, 4, 5), 'day': datetime.date(2024, 1, 2),\n" +
        "    'n': np.int64(7), 'arr': np.array([[1, 2], [3, 4]]), 'mean': np.float64(2.5),\n" +
        "    'df': pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']}), 'err': ValueError('bad input'),\n" +
        "    'nan': float('nan'), 'inf': np.inf, 'name': 'Zoë 😀', 'none': None})",
    ]);
    expect(response.contentType).toBe("application/json");
    expect(response.body.toString("utf8")).toBe(
      '{"when": "2024-01-02T03:04:05", "day": "2024-01-02", "n": 7, "arr": [[1, 2], [3, 4]], "mean": 2.5, ' +
        '"df": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "err": {"error": "ValueError", "message": "bad input"}, ' +
        '"nan": null, "inf": null, "name": "Zoë 😀", "none": null}',
    );
  });

  it("passes status and headers through", async () => {
    const response = await respond([
      "from nbhook import webhook\n" +
        "webhook.respond_html('<p>created</p>', status=201, headers={'X-Request-Id': 'abc-123', 'Cache-Control': 'no-store', 'X-Count': 3})",
    ]);
    expect(response).toEqual({
      contentType: "text/html",
      body: utf8("<p>created</p>"),
      status: 201,
      headers: { "X-Request-Id": "abc-123", "Cache-Control": "no-store", "X-Count": "3" },
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
    { format: "GIF", bytes: gifBytes(), args: ", status=202", extra: { status: 202 }, type: "image/gif" },
  ];
  for (const { format, bytes, args, extra, type } of imageCases) {
    it(`answers respond_image with ${format} bytes, byte for byte`, async () => {
      const result = await run([`import naas\nnaas.webhook.respond_image(${pyBytes(bytes)}${args})`]);
      expect(result.status).toBe("ok");
      expect(result.response).toEqual({ contentType: type, body: bytes, ...extra });
      // The saved notebook shows the image too.
      const shown = code(result, 0).outputs[0] as { data: Record<string, unknown> };
      expect(shown.data[type]).toBe(bytes.toString("base64"));
    });
  }

  it("answers respond_image with an image file's bytes, named after the file", async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, "anim.gif"), gifBytes());
    const response = await respond(["from nbhook import webhook\nwebhook.respond_image('anim.gif')"], cwd);
    expect(response).toEqual({ contentType: "image/gif", body: gifBytes(), filename: "anim.gif" });
  });

  it("answers respond_file with a binary file the notebook wrote in its working directory, byte for byte", async () => {
    const cwd = tempDir();
    const response = await respond(
      [
        "with open('all-bytes.bin', 'wb') as f:\n    f.write(bytes(range(256)))",
        "from nbhook import webhook\nwebhook.respond_file('all-bytes.bin', headers={'X-Kind': 'blob'})",
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
    const nb = makeNotebook(["import naas\nnaas.webhook.respond_file('report.csv', 'export.csv')"]);
    const dir = path.dirname(writeTempNotebook(nb));
    const csv = Buffer.concat([utf8("name;city\r\nZoë;"), Buffer.from([0xe9, 0xff, 0x00]), utf8("\r\n")]);
    writeFileSync(path.join(dir, "report.csv"), csv);
    const result = await executeNotebook(nb, { specs, cwd: dir });
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({ contentType: "text/csv", body: csv, filename: "export.csv" });
  });

  it("answers respond() with any bytes and content type", async () => {
    const response = await respond([
      `from nbhook import webhook\nwebhook.respond(${pyBytes(ALL_BYTES)}, "application/x-nbhook-test", filename="data.raw")`,
    ]);
    expect(response).toEqual({
      contentType: "application/x-nbhook-test",
      body: ALL_BYTES,
      filename: "data.raw",
    });
  });

  it("answers respond_notebook with the executed notebook as HTML, outputs of later cells included", async () => {
    const result = await run([
      { source: "# Monthly report", type: "markdown" },
      "print('computed', 6 * 7)",
      "import naas\nnaas.webhook.respond_notebook()",
      "from IPython.display import HTML, display\ndisplay(HTML('<b>shown after the response</b>'))",
    ]);
    expect(result.status).toBe("ok");
    const response = result.response!;
    expect(response).toMatchObject({ contentType: "text/html", kind: "notebook" });
    const page = response.body.toString("utf8");
    expect(page).toBe(renderNotebookHtml(result.notebook));
    expect(page.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(page).toContain("Monthly report");
    expect(page).toContain("computed 42");
    expect(page).toContain("<b>shown after the response</b>");
  });
});

describe("which response counts, on Debian's ipykernel", () => {
  it("answers with the first response in cell order and still runs every later cell", async () => {
    const result = await run([
      "from nbhook import webhook\nwebhook.respond_text('first')\nwebhook.respond_text('same cell, later')",
      "print('cell 2 ran')\nwebhook.respond_json({'second': True})",
      "print('cell 3 ran')",
    ]);
    expect(result.status).toBe("ok");
    expect(result.response).toEqual({ contentType: "text/plain", body: utf8("first") });
    expect(code(result, 0).outputs).toHaveLength(2);
    expect(code(result, 1).outputs[0]).toEqual({
      output_type: "stream",
      name: "stdout",
      text: "cell 2 ran\n",
    });
    expect(code(result, 1).outputs).toHaveLength(2);
    expect(code(result, 2).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "cell 3 ran\n" },
    ]);
  });

  it("fails the run and drops the response when a cell after respond_* raises", async () => {
    const result = await run([
      "import naas\nnaas.webhook.respond_json({'ok': True})",
      "print('after the response')",
      "raise RuntimeError('failed after responding')",
      "print('never')",
    ]);
    expect(result.status).toBe("error");
    expect(result.response).toBeUndefined();
    expect(result.error).toMatchObject({
      ename: "RuntimeError",
      evalue: "failed after responding",
      cellIndex: 2,
    });
    expect(code(result, 1).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "after the response\n" },
    ]);
    expect(code(result, 3).execution_count).toBeNull();
  });
});

describe("outputs written the way the Naas library writes them", () => {
  const NAAS =
    "import os, mimetypes\nimport pandas as pd\nfrom IPython.display import display, HTML, JSON, Markdown, SVG, Image\n";
  const preview = (what: string) => `display(Markdown("Response Set as ${what}, preview below: "))\n`;

  const cases = [
    {
      kind: "JSON displayed with per-MIME metadata",
      source: `display(JSON({"total": 42, "name": "Zoë", "items": [1, 2.5, None]}), metadata={"application/json": {"naas_api": True}})`,
      type: "application/json",
      body: '{"total": 42, "name": "Zo\\u00eb", "items": [1, 2.5, null]}',
    },
    {
      kind: "respond_json",
      source: `${preview("JSON")}display(JSON({"ok": True}, metadata={"naas_api": True}))`,
      type: "application/json",
      body: '{"ok": true}',
    },
    {
      kind: "respond_html",
      source: `${preview("HTML")}display(HTML("<h1>Zoë</h1>", metadata={"naas_api": True}))`,
      type: "text/html",
      body: "<h1>Zoë</h1>",
    },
    {
      kind: "respond_text",
      source: `display(HTML("plain <b>text</b>", metadata={"naas_api": True, "naas_type": "text"}))`,
      type: "text/plain",
      body: "plain <b>text</b>",
    },
    {
      kind: "respond_markdown",
      source: `display(HTML("<h1>Title</h1>\\n", metadata={"naas_api": True, "naas_type": "markdown"}))`,
      type: "text/html",
      body: "<h1>Title</h1>\n",
    },
    {
      kind: "respond_csv",
      source: `df = pd.DataFrame({"a": [1, 2], "b": ["x & y", 'say "hi"']})\ndisplay(HTML(df.to_html(), metadata={"naas_api": True, "naas_type": "csv"}))`,
      type: "text/csv",
      body: '"";"a";"b"\n"0";"1";"x & y"\n"1";"2";"say ""hi"""\n',
    },
    {
      kind: "respond_svg",
      source: `${preview("SVG")}display(SVG(${py(SVG)}, metadata={"naas_api": True}))`,
      type: "image/svg+xml",
      body: SVG,
    },
    {
      kind: "a raw bundle with top-level metadata",
      source: `display({"text/html": "<i>raw</i>", "text/plain": "raw"}, raw=True, metadata={"naas_api": True})`,
      type: "text/html",
      body: "<i>raw</i>",
    },
    {
      kind: "a falsy JSON (skipped, as Naas did) before an HTML",
      source: `display(JSON({}, metadata={"naas_api": True}))\ndisplay(HTML("<p>next</p>", metadata={"naas_api": True}))`,
      type: "text/html",
      body: "<p>next</p>",
    },
  ];
  for (const { kind, source, type, body } of cases) {
    it(`honours ${kind}`, async () => {
      const response = await respond([NAAS + source]);
      expect(response).toEqual({ contentType: type, body: utf8(body) });
    });
  }

  // IPython files GIF bytes given as Image(data=...) under image/png; the bytes say what they are.
  const images = {
    PNG: [pngBytes(), "image/png"],
    JPEG: [jpegBytes(), "image/jpeg"],
    GIF: [gifBytes(), "image/gif"],
  } as const;
  for (const [format, [bytes, type]] of Object.entries(images)) {
    it(`honours respond_image's Image() with ${format} bytes, byte for byte`, async () => {
      const response = await respond([
        `${NAAS}${preview("IMAGE")}display(Image(${pyBytes(bytes)}, metadata={"naas_api": True}))`,
      ]);
      expect(response).toEqual({ contentType: type, body: bytes });
    });
  }

  const filePaths = {
    "an absolute path": 'os.path.abspath("report.pdf")',
    "a path relative to the cwd": '"report.pdf"',
  };
  for (const [form, pathCode] of Object.entries(filePaths)) {
    it(`honours respond_file's {path} JSON with ${form}, reading the file as bytes`, async () => {
      const cwd = tempDir();
      writeFileSync(path.join(cwd, "report.pdf"), ALL_BYTES);
      const naasType = 'mimetypes.guess_type(os.path.abspath("report.pdf"))[0]';
      const response = await respond(
        [
          `${NAAS}${preview("File")}display(JSON({"path": ${pathCode}}, metadata={"naas_api": True, "naas_type": ${naasType}}))`,
        ],
        cwd,
      );
      expect(response).toEqual({ contentType: "application/pdf", body: ALL_BYTES, filename: "report.pdf" });
    });
  }

  it("honours respond_notebook's marker with the executed notebook as HTML", async () => {
    const result = await run([
      NAAS +
        'display(Markdown("Response Set as Notebook !", metadata={"naas_api": True, "naas_type": "notebook"}))',
      "print('later cell output')",
    ]);
    expect(result.status).toBe("ok");
    expect(result.response).toMatchObject({ contentType: "text/html", kind: "notebook" });
    expect(result.response!.body.toString("utf8")).toBe(renderNotebookHtml(result.notebook));
    expect(result.response!.body.toString("utf8")).toContain("later cell output");
  });

  it("takes whichever comes first when Naas outputs and nbhook responses are mixed", async () => {
    const naasFirst = await respond([
      NAAS + 'display(HTML("<p>naas</p>", metadata={"naas_api": True}))',
      "import nbhook\nnbhook.webhook.respond_text('nbhook')",
    ]);
    expect(naasFirst).toEqual({ contentType: "text/html", body: utf8("<p>naas</p>") });
    const nbhookFirst = await respond([
      "import nbhook\nnbhook.webhook.respond_text('nbhook')",
      NAAS + 'display(HTML("<p>naas</p>", metadata={"naas_api": True}))',
    ]);
    expect(nbhookFirst).toEqual({ contentType: "text/plain", body: utf8("nbhook") });
  });
});
