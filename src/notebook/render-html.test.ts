import { describe, expect, it } from "vitest";
import { stripAnsi } from "./ansi.js";
import { renderMarkdown } from "./markdown.js";
import { renderNotebookHtml } from "./render-html.js";
import { RESPONSE_MIME, type Cell, type Notebook, type Output } from "./types.js";

function notebook(cells: Cell[], metadata: Record<string, unknown> = {}): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { language_info: { name: "python" }, ...metadata },
    cells,
  } as Notebook;
}

function code(source: string | string[], outputs: Output[] = [], count: number | null = 1): Cell {
  return { cell_type: "code", source, metadata: {}, execution_count: count, outputs };
}

function display(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): Output {
  return { output_type: "display_data", data, metadata } as Output;
}

const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

describe("renderNotebookHtml()", () => {
  it("should write a complete page with a title and inline CSS only", () => {
    const html = renderNotebookHtml(notebook([code("x = 1")]), { title: "Sales <report>" });
    expect(html.startsWith("<!DOCTYPE html>\n<html")).toBe(true);
    expect(html).toContain("<title>Sales &lt;report&gt;</title>");
    expect(html).toContain("<style>");
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
    // Nothing fetched from elsewhere.
    expect(html).not.toMatch(/<link|<script|src="http|url\(/);
  });

  it("should take the title from the notebook metadata, else 'Notebook'", () => {
    expect(renderNotebookHtml(notebook([], { title: "From metadata" }))).toContain(
      "<title>From metadata</title>",
    );
    expect(renderNotebookHtml(notebook([]))).toContain("<title>Notebook</title>");
  });

  it("should escape code sources and show execution counts", () => {
    const html = renderNotebookHtml(
      notebook([code(["if a < b:\n", '    print("<b>&</b>")'], [], 7), code("pass", [], null)]),
    );
    expect(html).toContain("In&nbsp;[7]:");
    expect(html).toContain("In&nbsp;[&nbsp;]:");
    expect(html).toContain(
      '<code class="language-python">if a &lt; b:\n    print(&quot;&lt;b&gt;&amp;&lt;/b&gt;&quot;)</code>',
    );
  });

  it("should show stream output without ANSI codes and with carriage returns applied", () => {
    const html = renderNotebookHtml(
      notebook([
        code("x", [
          {
            output_type: "stream",
            name: "stdout",
            text: ["\x1b[32mgreen\x1b[0m <ok>\n", "10%\r50%\r100%\n"],
          },
          { output_type: "stream", name: "stderr", text: "warning\n" },
        ] as Output[]),
      ]),
    );
    expect(html).toContain('<pre class="output stream stdout">green &lt;ok&gt;\n100%\n</pre>');
    expect(html).toContain('<pre class="output stream stderr">warning\n</pre>');
  });

  it("should show errors with their name, value and traceback, without ANSI codes", () => {
    const error = {
      output_type: "error",
      ename: "ZeroDivisionError",
      evalue: "division by zero",
      traceback: [
        "\x1b[0;31m---------\x1b[0m",
        "\x1b[0;32m----> 1\x1b[0m 1/0",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
      ],
    } as Output;
    const html = renderNotebookHtml(notebook([code("1/0", [error])]));
    expect(html).toContain(
      '<pre class="output error"><span class="ename">ZeroDivisionError</span>: division by zero\n' +
        "---------\n----&gt; 1 1/0\nZeroDivisionError: division by zero</pre>",
    );
    expect(html).not.toContain("\x1b");
  });

  it("should prefer text/html and include it as it is", () => {
    const html = renderNotebookHtml(
      notebook([
        code("df", [
          display({ "text/html": ["<table>\n", "<tr><td>1</td></tr></table>"], "text/plain": "PLAIN-REPR" }),
        ]),
      ]),
    );
    expect(html).toContain('<div class="output html"><table>\n<tr><td>1</td></tr></table></div>');
    expect(html).not.toContain("PLAIN-REPR");
  });

  it("should embed images as data URIs with their size, and SVG inline", () => {
    const html = renderNotebookHtml(
      notebook([
        code("img", [
          display(
            { "image/png": PNG_BASE64 + "\n", "text/plain": "<Image>" },
            { "image/png": { width: 40 } },
          ),
          display({ "image/jpeg": "/9j/4AAQ" }),
          display({ "image/svg+xml": ['<svg xmlns="http://www.w3.org/2000/svg">', "<circle r='1'/></svg>"] }),
        ]),
      ]),
    );
    expect(html).toContain(`<img src="data:image/png;base64,${PNG_BASE64}" width="40" alt="">`);
    expect(html).toContain('<img src="data:image/jpeg;base64,/9j/4AAQ" alt="">');
    expect(html).toContain(
      `<div class="output svg"><svg xmlns="http://www.w3.org/2000/svg"><circle r='1'/></svg></div>`,
    );
  });

  it("should keep image data from breaking out of the attribute", () => {
    const html = renderNotebookHtml(
      notebook([code("x", [display({ "image/png": 'AAAA"><script>x</script>' })])]),
    );
    expect(html).toContain('src="data:image/png;base64,AAAAscriptx/script"');
    expect(html).not.toContain("<script>");
  });

  it("should pretty-print JSON and escape plain text", () => {
    const html = renderNotebookHtml(
      notebook([
        code("j", [display({ "application/json": { a: [1, "<x>"] }, "text/plain": "ignored" })]),
        code("t", [
          {
            output_type: "execute_result",
            execution_count: 2,
            data: { "text/plain": "'<tag>'" },
            metadata: {},
          } as Output,
        ]),
      ]),
    );
    expect(html).toContain(
      '<pre class="output json">{\n  &quot;a&quot;: [\n    1,\n    &quot;&lt;x&gt;&quot;\n  ]\n}</pre>',
    );
    expect(html).toContain('<div class="prompt out">Out[2]:</div>');
    expect(html).toContain('<pre class="output text">&#39;&lt;tag&gt;&#39;</pre>');
  });

  it("should show an nbhook response through its ordinary rendering", () => {
    const response = display({
      [RESPONSE_MIME]: { content_type: "text/csv", data: "QQ==", encoding: "base64", filename: "a.csv" },
      "text/plain": "Response set: text/csv, a.csv (1 byte)",
    });
    const html = renderNotebookHtml(notebook([code("respond", [response])]));
    expect(html).toContain('<pre class="output text">Response set: text/csv, a.csv (1 byte)</pre>');
    expect(html).not.toContain("QQ==");
  });

  it("should show a respond_file answer kept as a file by its line, never its server path", () => {
    const file = "/srv/nbhook/answers/nbhook-answer-x1/answer";
    const described = display({
      [RESPONSE_MIME]: { content_type: "application/pdf", file, size: 104857600, filename: "r.pdf" },
      "text/plain": "Response set: application/pdf, r.pdf (104857600 bytes)",
    });
    const bare = display({ [RESPONSE_MIME]: { content_type: "application/pdf", file, size: 2 } });
    const omitted = display({ [RESPONSE_MIME]: { content_type: "text/plain", omitted: 20_000_000 } });
    const html = renderNotebookHtml(notebook([code("respond", [described, bare, omitted])]));
    expect(html).toContain(
      '<pre class="output text">Response set: application/pdf, r.pdf (104857600 bytes)</pre>',
    );
    expect(html).toContain('<pre class="output text">Response set: application/pdf (2 bytes)</pre>');
    expect(html).toContain('<pre class="output text">Response set: text/plain (20,000,000 bytes)</pre>');
    expect(html).not.toContain(file);
  });

  it("should name outputs it cannot show", () => {
    const html = renderNotebookHtml(
      notebook([code("w", [display({ "application/vnd.jupyter.widget-view+json": {} })])]),
    );
    expect(html).toContain(
      '<pre class="output missing">[application/vnd.jupyter.widget-view+json output]</pre>',
    );
  });

  it("should render markdown cells escaped, and raw cells as text", () => {
    const html = renderNotebookHtml(
      notebook([
        {
          cell_type: "markdown",
          source: ["# Title\n", "Some <script>alert(1)</script> **bold**"],
          metadata: {},
        } as Cell,
        { cell_type: "raw", source: "<raw>", metadata: {} } as Cell,
      ]),
    );
    expect(html).toContain(
      "<h1>Title</h1>\n<p>Some &lt;script&gt;alert(1)&lt;/script&gt; <strong>bold</strong></p>",
    );
    expect(html).toContain("<pre>&lt;raw&gt;</pre>");
    expect(html).not.toContain("<script>");
  });

  it("should render markdown cells and text/markdown outputs with nbhook's Markdown renderer", () => {
    const markdown = "> quoted\n\n| a | b |\n|---|---|\n| 1 | <b>2</b> |\n";
    const html = renderNotebookHtml(
      notebook([
        { cell_type: "markdown", source: markdown, metadata: {} } as Cell,
        code("display(Markdown(md))", [
          display({ "text/markdown": markdown.split(/(?<=\n)/), "text/plain": "md" }),
        ]),
      ]),
    );
    expect(html).toContain(`<div class="markdown">${renderMarkdown(markdown)}</div>`);
    expect(html).toContain(`<div class="output markdown">${renderMarkdown(markdown)}</div>`);
    expect(renderMarkdown(markdown)).toContain("<blockquote>\n<p>quoted</p>\n</blockquote>");
    expect(renderMarkdown(markdown)).toContain("<td>&lt;b&gt;2&lt;/b&gt;</td>");
  });

  it("should prefer text/html to text/markdown, as nbconvert does", () => {
    const html = renderNotebookHtml(
      notebook([code("x", [display({ "text/markdown": "# md", "text/html": "<p>as html</p>" })])]),
    );
    expect(html).toContain('<div class="output html"><p>as html</p></div>');
    expect(html).not.toContain("<h1>md</h1>");
  });
});

describe("stripAnsi()", () => {
  it("should remove colour, cursor and OSC sequences", () => {
    expect(stripAnsi("\x1b[1;31mred\x1b[0m \x1b[2K\x1b]0;title\x07done\x1b7\x1b(B!")).toBe("red done!");
  });
});
