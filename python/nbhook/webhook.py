"""What a notebook answers when it is called as a webhook, and the webhook management calls.

Call one ``respond_*`` function anywhere in the notebook; the first response in cell order is
the HTTP answer (cells after it still run). Every ``respond_*`` accepts ``status=`` (an HTTP
status code, default 200) and ``headers=`` (a dict of extra response headers), which Naas could
not set::

    from nbhook import webhook
    webhook.respond_json({"total": 42})
    webhook.respond_csv(df, headers={"Cache-Control": "no-store"})

Content types: html ``text/html``, json ``application/json``, text ``text/plain``, markdown
``text/html`` (rendered by the server), csv ``text/csv``, svg ``image/svg+xml``, image ``image/png`` /
``image/jpeg`` / ``image/gif`` (from the bytes), file from its name. The HTTP layer adds
``charset=utf-8`` to text types.

The management calls (``add``, ``find``, ``list``, ``get``, ``clear``, ``get_output``,
``clear_output``, ``delete``, ``currents``) are defined in ``nbhook.manage``.
"""

from __future__ import annotations

import builtins
import csv
import html
import html.parser as html_parser
import io
import json
import os
from collections.abc import Mapping
from typing import Any, Dict, Optional

from . import _jsonable
from ._bundle import (
    answer_dir,
    answer_fields,
    copy_for_answer,
    describe,
    make_file_response,
    make_response,
    publish,
)
from ._media import OCTET_STREAM, guess_file_type, sniff_image_type
from .manage import (  # noqa: F401  (re-exported: naas.webhook.add & co.)
    add,
    clear,
    clear_output,
    currents,
    delete,
    find,
    get,
    get_output,
    list,
    list_output,
)

__all__ = [
    "respond",
    "respond_html",
    "respond_json",
    "respond_text",
    "respond_markdown",
    "respond_csv",
    "respond_svg",
    "respond_image",
    "respond_file",
    "respond_notebook",
    "add",
    "find",
    "list",
    "list_output",
    "get",
    "clear",
    "get_output",
    "clear_output",
    "delete",
    "currents",
]

Headers = Optional[Mapping[str, Any]]


def respond(
    data: Any,
    content_type: str,
    *,
    filename: Optional[str] = None,
    status: Optional[int] = None,
    headers: Headers = None,
) -> None:
    """Answer with ``data`` (``str`` or bytes) as ``content_type``; the notebook shows a line."""
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError("respond() takes str or bytes, not {}".format(type(data).__name__))
    body = data if isinstance(data, str) else bytes(data)
    response = make_response(
        content_type, body, filename=filename, status=status, headers=headers
    )
    publish(response, {}, describe(content_type, _size(body), filename))


def respond_html(html_text: Any, *, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with an HTML page (``text/html``). Objects with ``_repr_html_`` (a DataFrame) work."""
    text = _text(html_text, "_repr_html_")
    _respond_text_kind("text/html", text, {"text/html": text}, status, headers)


def respond_json(value: Any, *, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with ``value`` as JSON (``application/json``); never fails on odd values.

    Values JSON cannot hold are converted (see ``nbhook._jsonable``). A ``str`` holding a JSON
    object or array is taken as already-serialized JSON, as Naas did (``IPython.display.JSON``
    parses strings); any other ``str`` is sent as a JSON string.
    """
    if isinstance(value, str):
        value = _parse_json_container(value)
    text = _jsonable.dumps(value)
    _respond_text_kind(
        "application/json", text, {"application/json": json.loads(text)}, status, headers
    )


def respond_text(text: Any, *, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with plain text (``text/plain``)."""
    body = _text(text)
    rendering = {"text/html": "<pre>" + html.escape(body) + "</pre>"}
    _respond_text_kind("text/plain", body, rendering, status, headers)


def respond_markdown(
    markdown_text: Any, *, status: Optional[int] = None, headers: Headers = None
) -> None:
    """Answer with Markdown rendered to HTML (``text/html``), as Naas did.

    The server renders it (markdown-it: CommonMark and GFM tables; raw HTML is escaped, but
    ``<br>``/``<br />`` line breaks), the same way for every kernel and for Markdown in notebooks
    it shows, so the bundle carries the Markdown itself with ``render: "text/html"``. The notebook
    shows it as ``text/markdown``, which Jupyter front ends render.
    """
    text = _text(markdown_text)
    response = make_response(
        "text/markdown", text, status=status, headers=headers, render="text/html"
    )
    description = describe("text/markdown", _size(text)) + ", answered as text/html"
    publish(response, {"text/markdown": text}, description)


def respond_svg(svg: Any, *, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with an SVG image (``image/svg+xml``) given as text."""
    text = _text(svg, "_repr_svg_")
    _respond_text_kind("image/svg+xml", text, {"image/svg+xml": text}, status, headers)


def respond_csv(data: Any, *, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with CSV (``text/csv``).

    ``data`` may be CSV text (sent as it is), a pandas DataFrame or Series (``data.to_csv()``,
    index included, like pandas' default), or a list of rows: dicts (the columns are the keys
    in first-seen order) or sequences. Rows are written with ``csv.writer`` and ``\\n`` line
    ends, like ``DataFrame.to_csv``.

    ``naas.webhook.respond_csv`` answers a DataFrame as Naas did instead: ``;``-separated, every
    field quoted (see ``naas.webhook``).
    """
    _respond_csv(data, status, headers, naas_style=False)


def _respond_csv(data: Any, status: Optional[int], headers: Headers, naas_style: bool) -> None:
    to_html = getattr(data, "to_html", None)
    if naas_style and callable(to_html) and callable(getattr(data, "to_csv", None)):
        table = to_html()
        _respond_text_kind("text/csv", naas_csv_from_html(table), {"text/html": table}, status, headers)
        return
    if isinstance(data, (str, bytes, bytearray)):
        text = _text(data)
        rendering = {"text/html": "<pre>" + html.escape(text) + "</pre>"}
    elif callable(getattr(data, "to_csv", None)):
        text = data.to_csv()
        to_html = getattr(data, "to_html", None)
        table = to_html() if callable(to_html) else None
        rendering = {"text/html": table or "<pre>" + html.escape(text) + "</pre>"}
    else:
        text = _rows_to_csv(data)
        rendering = {"text/html": "<pre>" + html.escape(text) + "</pre>"}
    _respond_text_kind("text/csv", text, rendering, status, headers)


def respond_image(
    data: Any = None,
    filename: Optional[str] = None,
    *,
    status: Optional[int] = None,
    headers: Headers = None,
) -> None:
    """Answer with a PNG, JPEG or GIF image; the type comes from the image's first bytes.

    ``data`` is the image's bytes or the path of an image file. Without ``data``, ``filename``
    is the file to read (what ``IPython.display.Image(filename=...)`` meant under Naas). With
    bytes, ``filename`` is the name offered for download. A path's base name is the default
    download name.
    """
    if data is None and filename is None:
        raise TypeError("respond_image() needs the image's bytes or the path of an image file")
    if data is None:
        data = filename
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if path.startswith(("http://", "https://")):
            raise ValueError(
                "respond_image() does not download images; fetch {} first and pass its "
                "bytes".format(path)
            )
        with open(path, "rb") as image_file:
            body = image_file.read()
        filename = os.path.basename(filename or path)
    else:
        body = _image_bytes(data)
        filename = os.path.basename(filename) if filename else None
    content_type = sniff_image_type(body)
    if content_type is None:
        raise ValueError(
            "respond_image() takes PNG, JPEG or GIF images (the data starts with {!r}); use "
            "respond_svg() for SVG or respond_file() for other files".format(body[:8])
        )
    response = make_response(
        content_type, body, filename=filename, status=status, headers=headers
    )
    publish(response, {content_type: response["data"]}, describe(content_type, len(body), filename))


def respond_file(
    path: Any,
    filename: Optional[str] = None,
    *,
    status: Optional[int] = None,
    headers: Headers = None,
) -> None:
    """Answer with the bytes of the file at ``path``.

    The content type comes from the file name (``application/octet-stream`` when unknown); the
    download name is ``filename`` or the file's base name. The file is read in binary, so any
    file works (Naas read it as text). When a server runs the notebook, the file is copied
    aside and the server streams the copy to the caller, so files of any size (up to the server's
    ``--max-answer``) cost neither memory nor room in the saved notebook, and the notebook may
    change or delete its file right after. Elsewhere (``nbhook run``, your own Jupyter) the bytes
    are embedded in the output (base64).
    """
    path = os.fspath(path)
    name = os.path.basename(filename or path)
    content_type = guess_file_type(name) or guess_file_type(path) or OCTET_STREAM
    folder = answer_dir()
    if folder is None:
        with open(path, "rb") as response_file:
            body = response_file.read()
        response = make_response(content_type, body, filename=name, status=status, headers=headers)
        publish(response, {}, describe(content_type, len(body), name))
        return
    answer_fields(status=status, headers=headers)  # a bad status or header fails before any copy
    copy = copy_for_answer(path, folder)
    size = os.path.getsize(copy)
    response = make_file_response(
        content_type, copy, size, filename=name, status=status, headers=headers
    )
    publish(response, {}, describe(content_type, size, name))


def respond_notebook(*, status: Optional[int] = None, headers: Headers = None) -> None:
    """Answer with this executed notebook rendered as an HTML page (rendered by the runner)."""
    response = make_response(
        "text/html", "", status=status, headers=headers, kind="notebook"
    )
    publish(response, {}, "Response set: the executed notebook, as text/html")


def _respond_text_kind(
    content_type: str,
    text: str,
    rendering: Dict[str, Any],
    status: Optional[int],
    headers: Headers,
) -> None:
    response = make_response(content_type, text, status=status, headers=headers)
    publish(response, rendering, describe(content_type, _size(text)))


def _size(body: Any) -> int:
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def _text(value: Any, repr_method: Optional[str] = None) -> str:
    """``value`` as text: str as is, bytes as UTF-8, ``None`` as empty, a rich object through
    ``repr_method`` (``_repr_html_``/``_repr_svg_``) when it has one, anything else ``str()``."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    rich = getattr(value, repr_method, None) if repr_method else None
    if callable(rich):
        rendered = rich()
        if isinstance(rendered, tuple):  # (data, metadata), IPython's repr protocol
            rendered = rendered[0]
        if isinstance(rendered, str):
            return rendered
    return str(value)


def _parse_json_container(text: str) -> Any:
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, (dict, builtins.list)) else text


def _image_bytes(data: Any) -> bytes:
    """Bytes of an image given as bytes-like, an object with ``_repr_png_``/``_repr_jpeg_``
    (PIL images), or a matplotlib figure (``savefig``)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    for method in ("_repr_png_", "_repr_jpeg_"):
        rich = getattr(data, method, None)
        if callable(rich):
            rendered = rich()
            if isinstance(rendered, tuple):
                rendered = rendered[0]
            if isinstance(rendered, (bytes, bytearray)):
                return bytes(rendered)
    savefig = getattr(data, "savefig", None)
    if callable(savefig):
        buffer = io.BytesIO()
        savefig(buffer, format="png")
        return buffer.getvalue()
    raise TypeError(
        "respond_image() takes bytes, a file path, a PIL image or a matplotlib figure, not "
        "{}".format(type(data).__name__)
    )


class _FirstTable(html_parser.HTMLParser):
    """The rows of the first ``<table>``: each cell's text pieces, trimmed, joined."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: builtins.list = []
        self._depth = 0
        self._done = False
        self._row: Optional[builtins.list] = None
        self._cell: Optional[builtins.list] = None

    def _close_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
        self._cell = None

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None:
            self.rows.append(self._row)
        self._row = None

    def _tag(self, name: str, closing: bool) -> None:
        if self._done:
            return
        if name == "table":
            self._depth += -1 if closing else 1
            if self._depth == 0:
                self._close_row()
                self._done = True
        elif self._depth == 0:
            return
        elif name == "tr":
            self._close_row()
            if not closing:
                self._row = []
        elif name in ("td", "th"):
            self._close_cell()
            if not closing and self._row is not None:
                self._cell = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._tag(tag.lower(), False)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag.lower(), True)

    def handle_data(self, data: str) -> None:
        if not self._done and self._cell is not None and data.strip():
            self._cell.append(data.strip())


def naas_csv_from_html(table_html: str) -> str:
    """Naas's CSV of an HTML table (its first ``<table>``): ``;``, every field quoted, ``\\n``.

    The server converts the ``naas_api`` csv outputs of the real Naas library the same way
    (``src/notebook/response.ts``, ``csvFromHtmlTable``).
    """
    parser = _FirstTable()
    parser.feed(table_html)
    parser.close()
    parser._close_row()
    return "".join(
        ";".join('"' + field.replace('"', '""') + '"' for field in row) + "\n" for row in parser.rows
    )


def _rows_to_csv(rows: Any) -> str:
    if isinstance(rows, Mapping) or not _is_iterable(rows):
        raise TypeError(
            "respond_csv() takes CSV text, a pandas DataFrame or a list of rows, not "
            "{}".format(type(rows).__name__)
        )
    rows = builtins.list(rows)
    out = io.StringIO()
    if rows and all(isinstance(row, Mapping) for row in rows):
        columns: Dict[Any, None] = {}
        for row in rows:
            columns.update((key, None) for key in row)
        writer = csv.DictWriter(out, fieldnames=[*columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        plain = csv.writer(out, lineterminator="\n")
        for row in rows:
            if isinstance(row, (str, bytes)) or not _is_iterable(row):
                row = [row]
            plain.writerow(row)
    return out.getvalue()


def _is_iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True
