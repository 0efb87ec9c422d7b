"""Markdown to HTML for ``respond_markdown``.

Uses ``markdown2`` when it is installed (what Naas used, so pages look the same), else the
``markdown`` package, else ``render_fallback``: a small converter for the common subset
(ATX headings, paragraphs, fenced code, lists, block quotes, rules, code spans, bold, italics,
links and images with http/https/mailto/relative targets). The fallback escapes every other
``<``/``&`` in the text; only ``<br>`` / ``<br/>`` / ``<br />`` pass through (the Naas guide's
example uses ``<br />``).
"""

from __future__ import annotations

import html
import re
from typing import Callable, List, Optional

__all__ = ["render_markdown", "render_fallback"]


def render_markdown(text: str) -> str:
    """HTML for the Markdown ``text``, with the best renderer available."""
    renderer = _library_renderer()
    if renderer is not None:
        return str(renderer(text))
    return render_fallback(text)


def _library_renderer() -> Optional[Callable[[str], str]]:
    try:
        import markdown2  # type: ignore[import-not-found]

        return markdown2.markdown
    except ImportError:
        pass
    try:
        import markdown  # type: ignore[import-not-found]

        return markdown.markdown
    except ImportError:
        return None


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+(.*)$")
_ORDERED = re.compile(r"^[ \t]*\d{1,9}[.)][ \t]+(.*)$")
_QUOTE = re.compile(r"^[ \t]*>[ \t]?(.*)$")


def render_fallback(text: str) -> str:
    """HTML for ``text`` without any third-party package. Each block ends with a newline."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: List[str] = []
    paragraph: List[str] = []

    def flush_paragraph() -> None:
        if paragraph:
            blocks.append("<p>" + _inline("\n".join(paragraph)) + "</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush_paragraph()
            code: List[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of the text)
            body = html.escape("\n".join(code), quote=False)
            blocks.append("<pre><code>" + body + ("\n" if code else "") + "</code></pre>")
            continue
        if not line.strip():
            flush_paragraph()
        elif _HEADING.match(line):
            flush_paragraph()
            match = _HEADING.match(line)
            assert match is not None
            level = len(match.group(1))
            blocks.append("<h{0}>{1}</h{0}>".format(level, _inline(match.group(2))))
        elif _RULE.match(line):
            flush_paragraph()
            blocks.append("<hr />")
        elif _BULLET.match(line) or _ORDERED.match(line):
            flush_paragraph()
            pattern = _BULLET if _BULLET.match(line) else _ORDERED
            tag = "ul" if pattern is _BULLET else "ol"
            items: List[str] = []
            while i < len(lines) and pattern.match(lines[i]):
                item = pattern.match(lines[i])
                assert item is not None
                items.append("<li>" + _inline(item.group(1)) + "</li>")
                i += 1
            blocks.append("<{0}>\n{1}\n</{0}>".format(tag, "\n".join(items)))
            continue
        elif _QUOTE.match(line):
            flush_paragraph()
            quoted: List[str] = []
            while i < len(lines) and _QUOTE.match(lines[i]):
                quote = _QUOTE.match(lines[i])
                assert quote is not None
                quoted.append(quote.group(1))
                i += 1
            inner = render_fallback("\n".join(quoted)).rstrip("\n")
            blocks.append("<blockquote>\n" + inner + "\n</blockquote>")
            continue
        else:
            paragraph.append(line.strip())
        i += 1
    flush_paragraph()
    return "".join(block + "\n" for block in blocks)


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S)
_ITALIC_STAR = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*", re.S)
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])", re.S)
_BREAK = re.compile(r"&lt;br\s*/?&gt;", re.I)
_SAFE_URL = re.compile(r"^(?:https?:|mailto:|[^:]*$)", re.I)


def _inline(text: str) -> str:
    """Inline Markdown of one block; code spans are kept verbatim (escaped)."""
    pieces: List[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_inline_text(text[position : span.start()]))
        pieces.append("<code>" + html.escape(span.group(2).strip(), quote=False) + "</code>")
        position = span.end()
    pieces.append(_inline_text(text[position:]))
    return "".join(pieces)


def _inline_text(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _BREAK.sub("<br />", out)
    out = _IMAGE.sub(_image, out)
    out = _LINK.sub(_link, out)
    out = _BOLD.sub(r"<strong>\2</strong>", out)
    out = _ITALIC_STAR.sub(r"<em>\1</em>", out)
    out = _ITALIC_UNDERSCORE.sub(r"<em>\1</em>", out)
    return out


def _safe_url(url: str) -> Optional[str]:
    # ``url`` is already HTML-escaped for text; quotes still need escaping inside an attribute.
    return url.replace('"', "&quot;") if _SAFE_URL.match(url) else None


def _image(match: "re.Match[str]") -> str:
    url = _safe_url(match.group(2))
    alt = match.group(1).replace('"', "&quot;")
    return '<img src="{}" alt="{}" />'.format(url, alt) if url else match.group(1)


def _link(match: "re.Match[str]") -> str:
    url = _safe_url(match.group(2))
    return '<a href="{}">{}</a>'.format(url, match.group(1)) if url else match.group(1)
