import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isIopubOutput, readMessage } from "../kernel/messages.js";
import { OutputCollector } from "./outputs.js";
import {
  ANSWER_FOLDER_PREFIX,
  answerFilesIn,
  answerFolderOf,
  discardAnswerFiles,
  findResponse,
} from "./response.js";
import { RESPONSE_MIME, type Cell, type Output } from "./types.js";
import {
  codeCell,
  display,
  naasPreview,
  nbhookOutput,
  removeTempDirs,
  sent,
  tempDir,
  text,
} from "../../test/support/response-outputs.js";

afterAll(removeTempDirs);

// nbhook's own response bundle; the answer files of respond_file on a server. Naas's outputs:
// response.naas.test.ts.

describe("findResponse() with nbhook's response bundle", () => {
  it("should decode a UTF-8 bundle with its status, headers and filename", () => {
    const response = findResponse([
      codeCell(
        nbhookOutput(
          {
            content_type: "application/json",
            data: '{"a": null, "é": [1, 2]}',
            encoding: "utf-8",
            status: 201,
            headers: { "X-Id": "7" },
            filename: "result.json",
          },
          { "application/json": { a: null, é: [1, 2] } },
        ),
      ),
    ]);
    expect(response).toEqual({
      contentType: "application/json",
      body: Buffer.from('{"a": null, "é": [1, 2]}', "utf8"),
      status: 201,
      headers: { "X-Id": "7" },
      filename: "result.json",
    });
  });

  it("should decode base64 data byte for byte", () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const response = findResponse([
      codeCell(
        nbhookOutput({
          content_type: "application/octet-stream",
          data: bytes.toString("base64"),
          encoding: "base64",
          filename: "f.bin",
        }),
      ),
    ]);
    expect(sent(response)?.body.equals(bytes)).toBe(true);
    expect(response).toMatchObject({ contentType: "application/octet-stream", filename: "f.bin" });
    expect(Object.keys(response ?? {}).sort()).toEqual(["body", "contentType", "filename"]);
  });

  it("should pass respond_notebook's kind through with an empty body", () => {
    const response = findResponse([
      codeCell(nbhookOutput({ content_type: "text/html", data: "", encoding: "utf-8", kind: "notebook" })),
    ]);
    expect(response).toEqual({ contentType: "text/html", body: Buffer.alloc(0), kind: "notebook" });
  });

  it("should render respond_markdown's Markdown with render text/html and answer text/html", () => {
    const markdown = "# Hello Naas friends<br /> Do you love markdown?\n\n<script>alert(1)</script> **Zoë**";
    const response = findResponse([
      codeCell(
        nbhookOutput(
          {
            content_type: "text/markdown",
            data: markdown,
            encoding: "utf-8",
            render: "text/html",
            status: 201,
            headers: { "X-Kind": "md" },
          },
          { "text/markdown": markdown },
        ),
      ),
    ]);
    expect(response).toEqual({
      contentType: "text/html",
      body: Buffer.from(
        "<h1>Hello Naas friends<br>\n Do you love markdown?</h1>\n" +
          "<p>&lt;script&gt;alert(1)&lt;/script&gt; <strong>Zoë</strong></p>\n",
      ),
      status: 201,
      headers: { "X-Kind": "md" },
    });
  });

  it("should render base64 Markdown too, and a content type with parameters", () => {
    const response = findResponse([
      codeCell(
        nbhookOutput({
          content_type: "Text/Markdown; charset=utf-8",
          data: Buffer.from("*é*").toString("base64"),
          encoding: "base64",
          render: "text/html",
        }),
      ),
    ]);
    expect(response).toEqual({ contentType: "text/html", body: Buffer.from("<p><em>é</em></p>\n") });
  });

  it("should answer text/markdown without render as it is", () => {
    const response = findResponse([
      codeCell(nbhookOutput({ content_type: "text/markdown", data: "# raw", encoding: "utf-8" })),
    ]);
    expect(response).toEqual({ contentType: "text/markdown", body: Buffer.from("# raw") });
  });

  it("should refuse render on anything but text/markdown, and an unknown render target", () => {
    for (const bundle of [
      { content_type: "text/plain", data: "# x", encoding: "utf-8", render: "text/html" },
      { content_type: "text/markdown", data: "# x", encoding: "utf-8", render: "application/pdf" },
    ]) {
      const response = findResponse([codeCell(nbhookOutput(bundle))]);
      expect(response).toMatchObject({ kind: "broken", ename: "InvalidResponse" });
      expect(response?.kind === "broken" && response.evalue).toMatch(/render/);
    }
  });

  it("should fail Markdown whose HTML is over the inline limit once rendered", () => {
    const response = findResponse(
      [
        codeCell(
          nbhookOutput({
            content_type: "text/markdown",
            data: "*a*",
            encoding: "utf-8",
            render: "text/html",
          }),
        ),
      ],
      { maxAnswerBytes: 10 },
    );
    expect(response).toMatchObject({ kind: "broken", ename: "AnswerTooLarge" });
    expect(response?.kind === "broken" && response.evalue).toMatch(/18 bytes once rendered to HTML/);
  });

  it("should accept a bundle stored as JSON text, even split in lines", () => {
    const bundle = JSON.stringify({ content_type: "text/plain", data: "hi\nthere", encoding: "utf-8" });
    const response = findResponse([
      codeCell(display({ [RESPONSE_MIME]: [bundle.slice(0, 20), bundle.slice(20)] })),
    ]);
    expect(response).toEqual({ contentType: "text/plain", body: Buffer.from("hi\nthere") });
  });

  it("should find a bundle in an execute_result too", () => {
    const output = {
      output_type: "execute_result",
      execution_count: 3,
      data: { [RESPONSE_MIME]: { content_type: "text/csv", data: "a,b\n", encoding: "utf-8" } },
      metadata: {},
    } as Output;
    expect(text(findResponse([codeCell(output)]))).toBe("a,b\n");
  });

  it("should find an invalid bundle as a broken response instead of skipping it", () => {
    const response = findResponse([
      codeCell(nbhookOutput({ content_type: "text/html", data: "x", encoding: "utf-8", status: 700 })),
      codeCell(nbhookOutput({ content_type: "text/html", data: "later", encoding: "utf-8" })),
    ]);
    expect(response).toMatchObject({ kind: "broken", ename: "InvalidResponse", cellIndex: 0 });
    expect(response?.kind === "broken" && response.evalue).toMatch(/cell 1, output 1.*status/);
  });

  it("should reject an unknown encoding and a bundle that is not JSON", () => {
    for (const bundle of [{ content_type: "a/b", data: "", encoding: "latin-1" }, "{not json"]) {
      const response = findResponse([codeCell(display({ [RESPONSE_MIME]: bundle }))]);
      expect(response).toMatchObject({ kind: "broken", ename: "InvalidResponse" });
    }
  });
});

describe("findResponse() order", () => {
  const html = (s: string) =>
    nbhookOutput({ content_type: "text/html", data: s, encoding: "utf-8" }, { "text/html": s });

  it("should return the first response in cell order; later ones are ignored", () => {
    const cells: Cell[] = [
      codeCell({ output_type: "stream", name: "stdout", text: "log\n" } as Output),
      codeCell(display({ "text/plain": "plain display" }), html("first")),
      codeCell(html("second")),
    ];
    expect(text(findResponse(cells))).toBe("first");
  });

  it("should skip markdown and raw cells and cells without outputs", () => {
    const markdown = { cell_type: "markdown", source: "x", metadata: {} } as Cell;
    const raw = { cell_type: "raw", source: "x", metadata: {} } as Cell;
    expect(text(findResponse([markdown, raw, codeCell(), codeCell(html("only"))]))).toBe("only");
  });

  it("should return undefined without a response", () => {
    expect(findResponse([])).toBeUndefined();
    expect(
      findResponse([codeCell(naasPreview, display({ "text/html": "<b>not a response</b>" }))]),
    ).toBeUndefined();
  });

  it("should take whichever form comes first, nbhook's or Naas's", () => {
    const naasJson = display(
      { "application/json": { from: "naas" } },
      { "application/json": { expanded: false, naas_api: true, root: "root" } },
    );
    expect(text(findResponse([codeCell(naasJson), codeCell(html("nbhook"))]))).toBe('{"from": "naas"}');
    expect(text(findResponse([codeCell(html("nbhook")), codeCell(naasJson)]))).toBe("nbhook");
  });
});

describe("findResponse() with answer files (respond_file on a server)", () => {
  /** An answer file as the helper makes it: `<dir>/nbhook-answer-XXXX/answer`. */
  function answerFile(bytes: Buffer, dir = tempDir()): string {
    const folder = mkdtempSync(path.join(dir, ANSWER_FOLDER_PREFIX));
    const file = path.join(folder, "answer");
    writeFileSync(file, bytes);
    return file;
  }
  const fileBundle = (file: string, more: Record<string, unknown> = {}) =>
    nbhookOutput({ content_type: "application/pdf", file, size: 3, filename: "r.pdf", ...more });

  it("should answer the file, not its bytes, with its size as it is on disk", () => {
    const file = answerFile(Buffer.from("%PDF-1.7 body"));
    const response = findResponse([codeCell(fileBundle(file, { status: 201, headers: { "X-A": "1" } }))]);
    expect(response).toEqual({
      contentType: "application/pdf",
      body: Buffer.alloc(0),
      file: { path: file, size: 13 },
      filename: "r.pdf",
      status: 201,
      headers: { "X-A": "1" },
    });
    expect(existsSync(file)).toBe(true);
  });

  it("should refuse a file outside an answer folder, and one that is gone", () => {
    const stray = path.join(tempDir(), "report.pdf");
    writeFileSync(stray, "x");
    const outside = findResponse([codeCell(fileBundle(stray))]);
    expect(outside).toMatchObject({ kind: "broken", ename: "InvalidResponse" });
    expect(existsSync(stray)).toBe(true); // never removed: it is not an answer file
    const gone = answerFile(Buffer.from("x"));
    rmSync(gone);
    const missing = findResponse([codeCell(fileBundle(gone))]);
    expect(missing).toMatchObject({ kind: "broken", ename: "InvalidResponse" });
    expect(missing?.kind === "broken" && missing.evalue).toContain("cannot be read");
  });

  it("should fail a file over --max-answer, naming both sizes, and remove it", () => {
    const file = answerFile(Buffer.alloc(2048));
    const response = findResponse([codeCell(fileBundle(file))], { maxAnswerBytes: 1024 });
    expect(response).toMatchObject({ kind: "broken", ename: "AnswerTooLarge", cellIndex: 0 });
    expect(response?.kind === "broken" && response.evalue).toBe(
      "the answer file of the response in cell 1, output 1 is 2 KiB, more than the server's limit of 1 KiB per answer (--max-answer)",
    );
    expect(existsSync(path.dirname(file))).toBe(false);
  });

  it("should remove the files of responses that came later: they are never sent", () => {
    const first = answerFile(Buffer.from("one"));
    const later = answerFile(Buffer.from("two"));
    const afterInline = answerFile(Buffer.from("three"));
    const found = findResponse([codeCell(fileBundle(first)), codeCell(fileBundle(later))]);
    expect(sent(found)?.file?.path).toBe(first);
    expect([existsSync(first), existsSync(path.dirname(later))]).toEqual([true, false]);
    const inline = nbhookOutput({ content_type: "text/plain", data: "hi", encoding: "utf-8" });
    expect(text(findResponse([codeCell(inline, fileBundle(afterInline))]))).toBe("hi");
    expect(existsSync(path.dirname(afterInline))).toBe(false);
  });

  it("should list and discard the answer files of a run that sends none", () => {
    const a = answerFile(Buffer.from("a"));
    const b = answerFile(Buffer.from("b"));
    const cells = [codeCell(fileBundle(a)), codeCell(fileBundle(b))];
    expect(answerFilesIn(cells)).toEqual([a, b]);
    expect(answerFilesIn(cells, { path: a, size: 1 })).toEqual([b]);
    discardAnswerFiles(cells);
    expect([existsSync(path.dirname(a)), existsSync(path.dirname(b))]).toEqual([false, false]);
    expect(answerFolderOf("/etc/passwd")).toBeUndefined();
    expect(answerFolderOf("relative/nbhook-answer-x/answer")).toBeUndefined();
  });

  it("should fail an inline answer over the inline limit and say to use respond_file", () => {
    const big = nbhookOutput({ content_type: "text/plain", data: "x".repeat(100), encoding: "utf-8" });
    const response = findResponse([codeCell(big)], { maxAnswerBytes: 64 });
    expect(response).toMatchObject({ kind: "broken", ename: "AnswerTooLarge" });
    expect(response?.kind === "broken" && response.evalue).toBe(
      "the response in cell 1, output 1 is 100 bytes, more than an answer given inline may be (64 bytes): " +
        "answer large results with respond_file(path), which sends the file from disk",
    );
  });

  it("should answer an inline bundle the collector held aside, and refuse its summary alone", () => {
    const outputs: Output[] = [];
    const sink = new OutputCollector({ maxOutputBytes: 64 }).forCell(outputs);
    const bundle = { content_type: "text/plain", data: "z".repeat(500), encoding: "utf-8" };
    const header = { msg_id: "m", msg_type: "display_data", session: "s", username: "u" };
    const content = { data: { [RESPONSE_MIME]: bundle, "text/plain": "Response set" }, metadata: {} };
    const read = readMessage({
      header,
      parent_header: {},
      metadata: {},
      content,
      buffers: [],
      identities: [],
    });
    if (!read.ok || !isIopubOutput(read.message)) throw new Error("not a display_data");
    sink.handle(read.message);
    expect(text(findResponse([codeCell(...outputs)]))).toBe("z".repeat(500));
    const saved = findResponse(structuredClone([codeCell(...outputs)]));
    expect(saved).toMatchObject({ kind: "broken", ename: "InvalidResponse" });
    expect(saved?.kind === "broken" && saved.evalue).toContain("(500 bytes) is not kept in this notebook");
  });
});
