"""A small client of the nbhook server's management API (``docs/api.md``), standard library only.

Where the server is: ``$NBHOOK_URL``, default ``http://127.0.0.1:5000``. Its API token:
``$NBHOOK_TOKEN``, else the file ``$NBHOOK_HOME/api-token`` (``NBHOOK_HOME`` defaults to
``~/.nbhook``), the file ``nbhook serve`` writes at its first start, so on the server's machine
nothing needs configuring.

Every failure is an ``NbhookError`` whose message says what to do; the subclasses also derive
from the matching built-in exception (``ConnectionError``, ``PermissionError``, ``LookupError``)
so ``except ConnectionError`` works too.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = [
    "DEFAULT_URL",
    "Client",
    "NbhookError",
    "ServerUnreachable",
    "ApiError",
    "Unauthorized",
    "NotFound",
    "Conflict",
    "server_url",
    "nbhook_home",
    "token_file",
    "api_token",
]

DEFAULT_URL = "http://127.0.0.1:5000"
#: Seconds to wait for one answer (a deploy uploads a notebook; nothing here runs one).
DEFAULT_TIMEOUT_S = 60.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_DEBUG_TEXT_LIMIT = 4000


class NbhookError(Exception):
    """Base of the errors of the management calls."""


class ServerUnreachable(NbhookError, ConnectionError):
    """No nbhook server answered at the URL."""


class ApiError(NbhookError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Unauthorized(ApiError, PermissionError):
    """401: missing or wrong API token."""


class NotFound(ApiError, LookupError):
    """404: no such webhook, version or output."""


class Conflict(ApiError):
    """409: the call would remove the live version."""


def server_url(environ: Optional[Mapping[str, str]] = None) -> str:
    """The server's base URL, without a trailing slash."""
    env = os.environ if environ is None else environ
    return (env.get("NBHOOK_URL") or DEFAULT_URL).strip().rstrip("/")


def nbhook_home(environ: Optional[Mapping[str, str]] = None) -> str:
    """The server's data folder on this machine: ``$NBHOOK_HOME`` or ``~/.nbhook``."""
    env = os.environ if environ is None else environ
    home = env.get("NBHOOK_HOME") or os.path.join("~", ".nbhook")
    return os.path.abspath(os.path.expanduser(home))


def token_file(environ: Optional[Mapping[str, str]] = None) -> str:
    return os.path.join(nbhook_home(environ), "api-token")


def api_token(environ: Optional[Mapping[str, str]] = None) -> Tuple[Optional[str], str]:
    """``(token, where it came from)``; the token is None when neither source has one."""
    env = os.environ if environ is None else environ
    token = (env.get("NBHOOK_TOKEN") or "").strip()
    if token:
        return token, "NBHOOK_TOKEN"
    file = token_file(env)
    try:
        with open(file, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError:
        return None, file
    return (token or None), file


class Client:
    """One server, one token. ``debug=True`` prints each request and reply (token redacted)."""

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        debug: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = (url or server_url()).rstrip("/")
        if token is None:
            self.token, self.token_source = api_token()
        else:
            self.token, self.token_source = token, "argument"
        self.debug = bool(debug)
        self.timeout = timeout
        #: Headers of the last successful answer (e.g. ``nbhook-histo`` of a download).
        self.last_headers: Dict[str, str] = {}
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # A proxy set for the outside world must not intercept calls to a server on this machine.
        handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        raw: bool = False,
        not_found: Optional[str] = None,
    ) -> Any:
        """Calls ``method path`` and returns the parsed JSON answer (``raw``: its bytes).

        ``not_found`` is the message of the ``NotFound`` raised on a 404 (default: the server's).
        """
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if self.debug:
            self._print_request(method, url, headers, body)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, payload = response.status, response.read()
                self.last_headers = {k.lower(): v for k, v in response.headers.items()}
                content_type = self.last_headers.get("content-type", "")
        except urllib.error.HTTPError as err:
            payload = err.read() if err.fp is not None else b""
            if self.debug:
                self._print_reply(err.code, payload, raw=False)
            raise self._error(err.code, payload, not_found) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise ServerUnreachable(
                "cannot reach the nbhook server at {} ({}): start it with `nbhook serve` or set "
                "NBHOOK_URL to its address".format(self.url, reason)
            ) from None
        if self.debug:
            self._print_reply(status, payload, raw=raw)
        if raw:
            return payload
        if not payload:
            return None
        if "json" not in content_type:
            raise ApiError(
                "{} {} answered {} instead of JSON: is NBHOOK_URL ({}) an nbhook server?".format(
                    method, path, content_type or "no content type", self.url
                ),
                status,
            )
        return json.loads(payload.decode("utf-8"))

    def _error(self, status: int, payload: bytes, not_found: Optional[str]) -> ApiError:
        code, message = "", ""
        try:
            answer = json.loads(payload.decode("utf-8"))
            if isinstance(answer, dict):
                code = str(answer.get("error") or "")
                message = str(answer.get("message") or "")
        except ValueError:
            message = payload.decode("utf-8", "replace").strip()[:500]
        if status == 401:
            if self.token:
                hint = "the token from {} was refused".format(self.token_source)
            else:
                hint = "no API token found (NBHOOK_TOKEN is not set and {} is missing)".format(
                    self.token_source
                )
            return Unauthorized(
                "the nbhook server at {} needs its API token: {}. Set NBHOOK_TOKEN to the token "
                "`nbhook serve` printed (it is in <home>/api-token on the server's machine), or "
                "NBHOOK_HOME to the server's data folder".format(self.url, hint),
                status,
                code,
            )
        if status == 404:
            return NotFound(not_found or message or "not found", status, code)
        if status == 409:
            return Conflict(message or "conflict", status, code)
        return ApiError(
            "the nbhook server answered {}{}".format(status, ": " + message if message else ""),
            status,
            code,
        )

    def _print_request(self, method: str, url: str, headers: Dict[str, str], body: Any) -> None:
        shown = dict(headers)
        if "Authorization" in shown:
            shown["Authorization"] = "Bearer <redacted>"
        print("nbhook debug: -> {} {}".format(method, url))
        print("nbhook debug:    headers {}".format(json.dumps(shown)))
        if body is not None:
            print("nbhook debug:    body {}".format(_clip(json.dumps(_summarize(body), ensure_ascii=False))))

    def _print_reply(self, status: int, payload: bytes, raw: bool) -> None:
        if raw and status < 400:
            text = "<{} bytes>".format(len(payload))
        else:
            text = _clip(payload.decode("utf-8", "replace"))
        print("nbhook debug: <- {} {}".format(status, text))


def _summarize(body: Any) -> Any:
    """The request body with the notebook and file contents replaced by their size."""
    if not isinstance(body, dict):
        return body
    shown = dict(body)
    notebook = shown.get("notebook")
    if isinstance(notebook, dict):
        cells = notebook.get("cells")
        shown["notebook"] = "<notebook: {} cells, {} bytes of JSON>".format(
            len(cells) if isinstance(cells, list) else "?", len(json.dumps(notebook))
        )
    files = shown.get("files")
    if isinstance(files, list):
        shown["files"] = [
            {"path": f.get("path"), "data": "<{} base64 chars>".format(len(f.get("data") or ""))}
            for f in files
            if isinstance(f, dict)
        ]
    return shown


def _clip(text: str) -> str:
    if len(text) <= _DEBUG_TEXT_LIMIT:
        return text
    return text[:_DEBUG_TEXT_LIMIT] + "... ({} more characters)".format(len(text) - _DEBUG_TEXT_LIMIT)
