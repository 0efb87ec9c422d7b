import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { answerFolderOf, csvFromHtmlTable, dumpsLikePython, findResponse } from "./response.js";
import type { Output } from "./types.js";
import {
  codeCell,
  display,
  naasPreview,
  removeTempDirs,
  sent,
  tempDir,
  text,
} from "../../test/support/response-outputs.js";

afterAll(removeTempDirs);

// findResponse() on the outputs the real Naas library writes (naas_api metadata).

describe("findResponse() with Naas outputs (naas_api metadata)", () => {
  it("should answer respond_json with json.dumps's bytes", () => {
    const response = findResponse([
      codeCell(
        naasPreview,
        display(
          {
            "application/json": { foo: "bar", list: [1, null, true], é: "ü" },
            "text/plain": ["<JSON object>"],
          },
          { "application/json": { expanded: false, naas_api: true, root: "root" } },
        ),
      ),
    ]);
    expect(response).toEqual({
      contentType: "application/json",
      body: Buffer.from('{"foo": "bar", "list": [1, null, true], "\\u00e9": "\\u00fc"}'),
    });
  });

  it("should skip a falsy JSON payload like Naas and keep looking", () => {
    const marked = { "application/json": { expanded: false, naas_api: true, root: "root" } };
    const cells = [
      codeCell(display({ "application/json": {}, "text/plain": ["<JSON object>"] }, marked)),
      codeCell(display({ "application/json": [] }, marked)),
      codeCell(display({ "text/html": ["<h1>hi</h1>"] }, { "text/html": { naas_api: true } })),
    ];
    expect(findResponse(cells)).toEqual({ contentType: "text/html", body: Buffer.from("<h1>hi</h1>") });
  });

  it("should join respond_html's multi-line text", () => {
    const response = findResponse([
      codeCell(display({ "text/html": ["<p>\n", "hi</p>"] }, { "text/html": { naas_api: true } })),
    ]);
    expect(text(response)).toBe("<p>\nhi</p>");
  });

  it("should accept naas_api at the top level of the metadata", () => {
    const response = findResponse([
      codeCell(display({ "text/html": "raw text" }, { naas_api: true, naas_type: "text" })),
    ]);
    expect(response).toEqual({ contentType: "text/plain", body: Buffer.from("raw text") });
  });

  it("should answer respond_text as text/plain with the raw string", () => {
    const response = findResponse([
      codeCell(
        display(
          { "text/html": ["Hello <b>Naas</b>"] },
          { "text/html": { naas_api: true, naas_type: "text" } },
        ),
      ),
    ]);
    expect(response).toEqual({ contentType: "text/plain", body: Buffer.from("Hello <b>Naas</b>") });
  });

  it("should answer respond_markdown as text/html", () => {
    const response = findResponse([
      codeCell(
        display(
          { "text/html": ["<h1>Hi</h1>\n"] },
          { "text/html": { naas_api: true, naas_type: "markdown" } },
        ),
      ),
    ]);
    expect(response).toEqual({ contentType: "text/html", body: Buffer.from("<h1>Hi</h1>\n") });
  });

  it("should convert respond_csv's DataFrame.to_html() to Naas's CSV", () => {
    const tableHtml = [
      '<table border="1" class="dataframe">\n',
      "  <thead>\n",
      '    <tr style="text-align: right;">\n',
      "      <th></th>\n",
      "      <th>name</th>\n",
      "      <th>year</th>\n",
      "    </tr>\n",
      "  </thead>\n",
      "  <tbody>\n",
      "    <tr>\n",
      "      <th>0</th>\n",
      "      <td>Sally &amp; co</td>\n",
      "      <td>2018</td>\n",
      "    </tr>\n",
      "    <tr>\n",
      "      <th>1</th>\n",
      '      <td>Jeff "J"</td>\n',
      "      <td>2017</td>\n",
      "    </tr>\n",
      "  </tbody>\n",
      "</table>",
    ];
    const response = findResponse([
      codeCell(display({ "text/html": tableHtml }, { "text/html": { naas_api: true, naas_type: "csv" } })),
    ]);
    expect(response).toEqual({
      contentType: "text/csv",
      body: Buffer.from('"";"name";"year"\n"0";"Sally & co";"2018"\n"1";"Jeff ""J""";"2017"\n'),
    });
  });

  it("should decode respond_image's PNG and JPEG byte for byte", () => {
    const png = Buffer.concat([
      Buffer.from("\x89PNG\r\n\x1a\n", "latin1"),
      Buffer.from(Array.from({ length: 100 }, (_, i) => i)),
    ]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);
    const pngResponse = findResponse([
      codeCell(
        display(
          {
            "image/png": png.toString("base64") + "\n",
            "text/plain": ["<IPython.core.display.Image object>"],
          },
          { "image/png": { naas_api: true } },
        ),
      ),
    ]);
    const jpegResponse = findResponse([
      codeCell(display({ "image/jpeg": jpeg.toString("base64") }, { "image/jpeg": { naas_api: true } })),
    ]);
    expect(sent(pngResponse)?.contentType).toBe("image/png");
    expect(sent(pngResponse)?.body.equals(png)).toBe(true);
    expect(sent(jpegResponse)?.contentType).toBe("image/jpeg");
    expect(sent(jpegResponse)?.body.equals(jpeg)).toBe(true);
  });

  it("should take an image's type from its bytes when IPython filed a GIF under image/png", () => {
    // IPython's Image(data=gif_bytes) defaults to format png.
    const gif = Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1");
    const unknown = Buffer.from("not an image");
    const response = (bytes: Buffer) =>
      findResponse([
        codeCell(display({ "image/png": bytes.toString("base64") }, { "image/png": { naas_api: true } })),
      ]);
    expect(response(gif)).toEqual({ contentType: "image/gif", body: gif });
    expect(response(unknown)).toEqual({ contentType: "image/png", body: unknown });
  });

  it("should answer respond_svg as image/svg+xml", () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"/>';
    const response = findResponse([
      codeCell(display({ "image/svg+xml": [svg] }, { "image/svg+xml": { naas_api: true } })),
    ]);
    expect(response).toEqual({ contentType: "image/svg+xml", body: Buffer.from(svg) });
  });

  it("should turn respond_notebook into kind notebook", () => {
    const response = findResponse([
      codeCell(
        display(
          {
            "text/markdown": ["Response Set as Notebook !"],
            "text/plain": ["<IPython.core.display.Markdown object>"],
          },
          { "text/markdown": { naas_api: true, naas_type: "notebook" } },
        ),
      ),
    ]);
    expect(response).toEqual({ contentType: "text/html", body: Buffer.alloc(0), kind: "notebook" });
  });

  it("should read respond_file's file as bytes with its MIME type", () => {
    const dir = tempDir();
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
    writeFileSync(path.join(dir, "report.pdf"), bytes);
    const fileOutput = (filePath: string) =>
      display(
        { "application/json": { path: filePath } },
        {
          "application/json": { expanded: false, naas_api: true, naas_type: "application/pdf", root: "root" },
        },
      );
    const absolute = findResponse([codeCell(fileOutput(path.join(dir, "report.pdf")))]);
    expect(absolute).toEqual({ contentType: "application/pdf", body: bytes, filename: "report.pdf" });
    const relative = findResponse([codeCell(fileOutput("report.pdf"))], { baseDir: dir });
    expect(sent(relative)?.body.equals(bytes)).toBe(true);
  });

  it("should answer a 500 JSON error when respond_file's file is missing", () => {
    const missing = path.join(tempDir(), "gone.csv");
    const response = findResponse([
      codeCell(
        display(
          { "application/json": { path: missing } },
          { "application/json": { naas_api: true, naas_type: "text/csv" } },
        ),
      ),
    ]);
    expect(response).toMatchObject({ kind: "broken", ename: "FileNotFoundError" });
    expect(response?.kind === "broken" && response.evalue).toContain("gone.csv");
  });

  it("should answer the {path} JSON itself when the file's type was unknown (no naas_type)", () => {
    const response = findResponse([
      codeCell(
        display(
          { "application/json": { path: "/x/data.weird" } },
          { "application/json": { naas_api: true } },
        ),
      ),
    ]);
    expect(response).toEqual({
      contentType: "application/json",
      body: Buffer.from('{"path": "/x/data.weird"}'),
    });
  });

  it("should ignore outputs whose naas_api is false and outputs of other types", () => {
    const cells = [
      codeCell(display({ "text/html": "no" }, { "text/html": { naas_api: false } }), {
        output_type: "error",
        ename: "E",
        evalue: "v",
        traceback: [],
      } as Output),
    ];
    expect(findResponse(cells)).toBeUndefined();
  });
});

describe("csvFromHtmlTable()", () => {
  it("should use only the first table and join a cell's trimmed text pieces", () => {
    const html =
      "<p>intro</p><table><tr><th> A <b> bold </b></th><td>x&#233;&nbsp;</td></tr>" +
      "<!-- <tr><td>comment</td></tr> --><tr><td>1<td>2</tr></table><table><tr><td>other</td></tr></table>";
    expect(csvFromHtmlTable(html)).toBe('"Abold";"xé"\n"1";"2"\n');
  });

  it("should give an empty text without a table", () => {
    expect(csvFromHtmlTable("<p>no table</p>")).toBe("");
  });
});

describe("dumpsLikePython()", () => {
  it("should write json.dumps's default separators and ASCII escapes", () => {
    expect(dumpsLikePython({ a: [1, 2.5, "x\n\u007f😀"], b: {}, c: [] })).toBe(
      '{"a": [1, 2.5, "x\\n\\u007f\\ud83d\\ude00"], "b": {}, "c": []}',
    );
  });
});

describe("findResponse() with Naas's respond_file and an answer folder", () => {
  const naasFile = (filePath: string) =>
    display(
      { "application/json": { path: filePath } },
      { "application/json": { naas_api: true, naas_type: "application/pdf" } },
    );

  it("should copy the file to stream it, so the notebook's own file may go", () => {
    const dir = tempDir();
    const answerDir = path.join(tempDir(), "answers");
    const bytes = Buffer.from([0, 1, 2, 0xff]);
    writeFileSync(path.join(dir, "report.pdf"), bytes);
    const response = sent(findResponse([codeCell(naasFile("report.pdf"))], { baseDir: dir, answerDir }));
    expect(response).toMatchObject({ contentType: "application/pdf", filename: "report.pdf" });
    expect(response?.body.length).toBe(0);
    rmSync(path.join(dir, "report.pdf"));
    const copy = response!.file!;
    expect(copy.size).toBe(4);
    expect(path.dirname(path.dirname(copy.path))).toBe(answerDir);
    expect(answerFolderOf(copy.path)).toBeDefined();
    expect(readFileSync(copy.path).equals(bytes)).toBe(true);
  });

  it("should fail a file over --max-answer without copying it", () => {
    const dir = tempDir();
    const answerDir = path.join(tempDir(), "answers");
    writeFileSync(path.join(dir, "big.pdf"), Buffer.alloc(100));
    const response = findResponse([codeCell(naasFile(path.join(dir, "big.pdf")))], {
      answerDir,
      maxAnswerBytes: 10,
    });
    expect(response).toMatchObject({ kind: "broken", ename: "AnswerTooLarge" });
    expect(existsSync(answerDir)).toBe(false);
  });
});
