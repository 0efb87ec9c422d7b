"""The response bundle every ``respond_*`` call displays, and how it is displayed.

A response is one ``display_data`` output whose MIME bundle holds

- ``application/vnd.nbhook.response+json``: what the HTTP answer will be,
  ``{"content_type", "data", "encoding": "utf-8"|"base64", "filename"?, "status"?, "headers"?,
  "kind"?, "render"?}`` (text as UTF-8, bytes as base64), read by the runner after the run.
  ``"render": "text/html"`` (only with ``content_type`` ``text/markdown``) asks the server to
  render the Markdown ``data`` to HTML and answer ``text/html`` (respond_markdown): the server
  has the one Markdown renderer of nbhook, so the kernel needs no package for it;
- an ordinary rendering (``text/html``, ``image/png``, ``application/json``, ...) and a short
  ``text/plain`` description, so the saved notebook still shows what was answered.

Outside IPython (a plain ``python``), nothing is displayed: the description is printed instead.
"""

from __future__ import annotations

import base64
import numbers
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any, Dict, Optional, Union

from .run import run_info

__all__ = [
    "RESPONSE_MIME",
    "ANSWER_DIR_ENV",
    "make_response",
    "make_file_response",
    "answer_dir",
    "copy_for_answer",
    "publish",
    "describe",
]

RESPONSE_MIME = "application/vnd.nbhook.response+json"

# Set by the server in the kernel's environment: the folder where answer files are copied.
ANSWER_DIR_ENV = "NBHOOK_ANSWER_DIR"

# The name of each answer file's own folder starts with this; the server removes only such folders.
ANSWER_FOLDER_PREFIX = "nbhook-answer-"

# RFC 9110 token: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def make_response(
    content_type: str,
    data: Union[str, bytes],
    *,
    filename: Optional[str] = None,
    status: Optional[int] = None,
    headers: Optional[Mapping[str, Any]] = None,
    kind: Optional[str] = None,
    render: Optional[str] = None,
) -> Dict[str, Any]:
    """The value of the response MIME type. ``str`` data is sent as UTF-8, ``bytes`` as base64.

    ``render`` is what the server turns the data into before answering (``"text/html"`` for
    ``text/markdown`` data); see the module's docstring.
    """
    response: Dict[str, Any] = {"content_type": content_type}
    if isinstance(data, str):
        response["data"] = data
        response["encoding"] = "utf-8"
    else:
        response["data"] = base64.b64encode(bytes(data)).decode("ascii")
        response["encoding"] = "base64"
    response.update(answer_fields(filename=filename, status=status, headers=headers))
    if kind is not None:
        response["kind"] = kind
    if render is not None:
        response["render"] = render
    return response


def make_file_response(
    content_type: str,
    path: str,
    size: int,
    *,
    filename: Optional[str] = None,
    status: Optional[int] = None,
    headers: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """The response MIME value of an answer file (see ``copy_for_answer``): its path, not its bytes."""
    response: Dict[str, Any] = {"content_type": content_type, "file": path, "size": size}
    response.update(answer_fields(filename=filename, status=status, headers=headers))
    return response


def answer_fields(
    *,
    filename: Optional[str] = None,
    status: Optional[int] = None,
    headers: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """``filename``, ``status`` and ``headers`` as the bundle holds them, checked (ValueError, TypeError)."""
    fields: Dict[str, Any] = {}
    if filename:
        fields["filename"] = filename
    if status is not None:
        fields["status"] = _check_status(status)
    if headers is not None:
        fields["headers"] = _check_headers(headers)
    return fields


def answer_dir() -> Optional[str]:
    """The folder for answer files, or None when answers are to be inline.

    Only while a server runs the notebook (``NBHOOK_RUN``): it names the folder
    (``NBHOOK_ANSWER_DIR``), by default ``nbhook-answers-<uid>`` in the system's temporary folder,
    and removes each copy once it was sent. In someone's Jupyter or ``nbhook run`` nobody would
    remove them. ``setup`` cells (warm modes) answer inline too: their outputs are shown in every
    call the prepared kernel serves, and a file is sent, then removed, once.
    """
    info = run_info()
    if not os.environ.get("NBHOOK_RUN", "").strip() or info.get("setup") is True:
        return None
    folder = os.environ.get(ANSWER_DIR_ENV, "").strip()
    if not folder:
        folder = os.path.join(tempfile.gettempdir(), "nbhook-answers-{}".format(_user_id()))
    return os.path.abspath(folder)


def _user_id() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else "user"


def copy_for_answer(path: str, folder: str) -> str:
    """A copy of the file at ``path`` in a new folder of its own under ``folder``; its path.

    A copy, because the notebook may change or delete its file right after answering, and a
    reused kernel runs the next call in the same working folder. ``shutil.copyfile`` copies in
    the operating system where it can (``sendfile``), so a big file is not read into memory.
    """
    os.makedirs(folder, mode=0o700, exist_ok=True)
    own = tempfile.mkdtemp(prefix=ANSWER_FOLDER_PREFIX, dir=folder)
    copy = os.path.join(own, "answer")
    try:
        shutil.copyfile(path, copy)
    except BaseException:
        shutil.rmtree(own, ignore_errors=True)
        raise
    return copy


def describe(content_type: str, size: int, filename: Optional[str] = None) -> str:
    """The text/plain line shown in the notebook, e.g. ``Response set: text/csv (12 bytes)``."""
    name = ", {}".format(filename) if filename else ""
    unit = "byte" if size == 1 else "bytes"
    return "Response set: {}{} ({} {})".format(content_type, name, size, unit)


def publish(response: Dict[str, Any], rendering: Dict[str, Any], description: str) -> None:
    """Display the response next to its rendering, or print the description outside IPython."""
    bundle: Dict[str, Any] = {RESPONSE_MIME: response}
    bundle.update(rendering)
    bundle["text/plain"] = description
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(description)
        return
    if get_ipython() is None:
        print(description)
        return
    display(bundle, raw=True)


def _check_status(status: Any) -> int:
    if isinstance(status, bool) or not isinstance(status, numbers.Integral) or not 200 <= status <= 599:
        raise ValueError(
            "status must be an HTTP status code from 200 to 599, got {!r}".format(status)
        )
    return int(status)


def _check_headers(headers: Any) -> Dict[str, str]:
    if not isinstance(headers, Mapping):
        raise TypeError(
            "headers must be a dict of header name -> value, got {}".format(
                type(headers).__name__
            )
        )
    checked: Dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError("{!r} is not a valid HTTP header name".format(name))
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("latin-1")
        text = value if isinstance(value, str) else str(value)
        if any(c in text for c in "\r\n\0"):
            raise ValueError(
                "the value of header {!r} contains a line break or NUL".format(name)
            )
        checked[name] = text
    return checked
