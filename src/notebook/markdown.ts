/**
 * @module nbhook's one Markdown renderer (markdown-it): respond_markdown answers, markdown cells
 * and `text/markdown` outputs of notebooks rendered to HTML, for Python and Deno notebooks alike.
 *
 * CommonMark plus GFM tables and strikethrough (markdown-it's default preset). Raw HTML in the
 * text is not HTML: it is shown as text, escaped, with Markdown around and inside it still
 * rendered. The one exception is a line break, `<br>`, `<br/>` or `<br />` (any case), which
 * Naas users write (the guide's respond_markdown example is
 * `"# Hello Naas friends<br /> Do you love markdown as much as we do?"`). It is a tiny inline
 * rule making a markdown-it hard break, rather than `html: true` with the HTML render rules
 * overridden: with HTML on, markdown-it takes a line starting with a tag as an HTML block and
 * stops parsing Markdown in it, and every HTML token would have to be escaped again by us.
 *
 * Links: markdown-it's `validateLink` refuses `javascript:`, `vbscript:`, `file:` and `data:`
 * targets (but `data:image/gif|png|jpeg|webp`), so such a link stays text; every link gets
 * `rel="noopener noreferrer"`.
 */
import MarkdownIt from "markdown-it";
import type { StateInline } from "markdown-it";

/** `<br>`, `<br/>`, `<br />` (and `<BR  />`), at the start of the text it is matched against. */
const BR_TAG = /^<br\s*\/?>/i;

const LESS_THAN = 0x3c;

/** The inline rule that reads {@link BR_TAG} as a hard line break. */
function lineBreakTag(state: StateInline, silent: boolean): boolean {
  if (state.src.charCodeAt(state.pos) !== LESS_THAN) return false;
  const match = BR_TAG.exec(state.src.slice(state.pos, state.pos + 16));
  if (!match) return false;
  if (!silent) state.push("hardbreak", "br", 0);
  state.pos += match[0].length;
  return true;
}

function createRenderer() {
  const md = new MarkdownIt("default", { html: false, linkify: false, typographer: false });
  md.inline.ruler.before("html_inline", "nbhook_br", lineBreakTag);
  const renderToken = md.renderer.renderToken.bind(md.renderer);
  md.renderer.rules.link_open = (tokens, idx, options) => {
    tokens[idx]?.attrSet("rel", "noopener noreferrer");
    return renderToken(tokens, idx, options);
  };
  return md;
}

const renderer = createRenderer();

/**
 * The HTML fragment (blocks, each ending with a newline) for the Markdown `text`; escaped as the
 * module says. Never throws.
 * @example renderMarkdown("# Hi<br />there") // "<h1>Hi<br>\nthere</h1>\n"
 */
export function renderMarkdown(text: string): string {
  return renderer.render(text);
}
