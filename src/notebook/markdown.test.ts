import { describe, expect, it } from "vitest";
import { renderMarkdown } from "./markdown.js";

describe("renderMarkdown()", () => {
  it("should render the Naas guide's example as a heading with a line break", () => {
    expect(renderMarkdown("# Hello Naas friends<br /> Do you love markdown as much as we do?")).toBe(
      "<h1>Hello Naas friends<br>\n Do you love markdown as much as we do?</h1>\n",
    );
  });

  it("should keep every spelling of <br> as a line break, and nothing else of HTML", () => {
    expect(renderMarkdown("a<br>b<BR/>c<br  />d <brx> <br/ > <b>bold</b>")).toBe(
      "<p>a<br>\nb<br>\nc<br>\nd &lt;brx&gt; &lt;br/ &gt; &lt;b&gt;bold&lt;/b&gt;</p>\n",
    );
  });

  it("should keep <br> literal inside code", () => {
    expect(renderMarkdown("`<br>`\n\n```\n<br />\n```")).toBe(
      "<p><code>&lt;br&gt;</code></p>\n<pre><code>&lt;br /&gt;\n</code></pre>\n",
    );
  });

  it("should escape raw HTML, blocks and inline, and still render the Markdown around it", () => {
    const html = renderMarkdown(
      '<script>alert(1)</script>\n\n<div onclick="x()">**bold**</div>\n\nok <img src=x onerror=alert(1)>',
    );
    expect(html).toBe(
      "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n" +
        "<p>&lt;div onclick=&quot;x()&quot;&gt;<strong>bold</strong>&lt;/div&gt;</p>\n" +
        "<p>ok &lt;img src=x onerror=alert(1)&gt;</p>\n",
    );
    expect(html).not.toMatch(/<(script|div|img)/);
  });

  it("should refuse javascript:, vbscript:, file: and data: links, which stay text", () => {
    const html = renderMarkdown(
      "[x](javascript:alert(1)) [y](JavaScript:alert(1)) [z](vbscript:msgbox) [f](file:///etc/passwd) " +
        "[d](data:text/html,hi) <javascript:alert(1)>",
    );
    expect(html).not.toContain("<a");
    expect(html).not.toContain("href");
    expect(html).toContain("[x](javascript:alert(1))");
  });

  it("should write safe links with rel=noopener noreferrer", () => {
    expect(
      renderMarkdown('[Naas](https://naas.ai "home") <https://example.com/a?b=1&c=2> [rel](docs/a.md)'),
    ).toBe(
      '<p><a href="https://naas.ai" title="home" rel="noopener noreferrer">Naas</a> ' +
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">https://example.com/a?b=1&amp;c=2</a> ' +
        '<a href="docs/a.md" rel="noopener noreferrer">rel</a></p>\n',
    );
  });

  it("should show images, data: ones only when they are images", () => {
    expect(renderMarkdown("![chart](https://example.com/x.png) ![dot](data:image/png;base64,AAAA)")).toBe(
      '<p><img src="https://example.com/x.png" alt="chart"> <img src="data:image/png;base64,AAAA" alt="dot"></p>\n',
    );
    expect(renderMarkdown("![bad](data:text/html;base64,AAAA)")).not.toContain("<img");
  });

  it("should render GFM tables with their alignment", () => {
    expect(renderMarkdown("| name | n |\n|:-----|--:|\n| *Zoë* | 1 |\n| `a\\|b` | 2 |\n")).toBe(
      "<table>\n<thead>\n<tr>\n" +
        '<th style="text-align:left">name</th>\n<th style="text-align:right">n</th>\n' +
        "</tr>\n</thead>\n<tbody>\n<tr>\n" +
        '<td style="text-align:left"><em>Zoë</em></td>\n<td style="text-align:right">1</td>\n' +
        "</tr>\n<tr>\n" +
        '<td style="text-align:left"><code>a|b</code></td>\n<td style="text-align:right">2</td>\n' +
        "</tr>\n</tbody>\n</table>\n",
    );
  });

  it("should render block quotes, nested ones too", () => {
    expect(renderMarkdown("> quoted *text*\n> > nested\n")).toBe(
      "<blockquote>\n<p>quoted <em>text</em></p>\n<blockquote>\n<p>nested</p>\n</blockquote>\n</blockquote>\n",
    );
  });

  it("should render fenced code escaped, with its language as a class", () => {
    expect(renderMarkdown("```python\nif a < b:\n    print('<&>')\n```\n")).toBe(
      "<pre><code class=\"language-python\">if a &lt; b:\n    print('&lt;&amp;&gt;')\n</code></pre>\n",
    );
  });

  it("should render bullet, numbered and nested lists", () => {
    expect(renderMarkdown("- one\n- two\n  1. first\n  2. second\n\n3. three\n")).toBe(
      "<ul>\n<li>one</li>\n<li>two\n<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n</li>\n</ul>\n" +
        '<ol start="3">\n<li>three</li>\n</ol>\n',
    );
  });

  it("should render emphasis, strong, strikethrough and code spans", () => {
    expect(renderMarkdown("*em* _em_ **strong** __strong__ ~~gone~~ `a<b>` snake_case_name")).toBe(
      "<p><em>em</em> <em>em</em> <strong>strong</strong> <strong>strong</strong> <s>gone</s> " +
        "<code>a&lt;b&gt;</code> snake_case_name</p>\n",
    );
  });

  it("should render headings, rules and paragraphs, with CRLF line ends too", () => {
    expect(renderMarkdown("## Sub *title*\r\n\r\nText\r\nmore\r\n\r\n---\r\n")).toBe(
      "<h2>Sub <em>title</em></h2>\n<p>Text\nmore</p>\n<hr>\n",
    );
  });

  it("should answer an empty text with nothing", () => {
    expect(renderMarkdown("")).toBe("");
  });
});
