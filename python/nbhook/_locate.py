"""Which notebook a management call is about: the ``path`` given, or the notebook this kernel runs.

A given path is made absolute against the working directory (a kernel's is its notebook's
folder), as Naas did. With no path, the current notebook is looked for, in order:

1. ``$JPY_SESSION_NAME``, which jupyter_server (2.0 and later) sets in every kernel it starts;
2. ``__vsc_ipynb_file__`` in IPython's user namespace (VS Code);
3. ``__session__`` in IPython's user namespace (ipykernel copies ``JPY_SESSION_NAME`` there);
4. the Jupyter server's ``/api/sessions``, matched by this kernel's id (what Naas did), for each
   server listed in the Jupyter runtime folder.

A candidate counts only when it names an existing ``.ipynb`` file. When none does,
``NotebookPathError`` asks for ``path=``.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import urllib.parse
import urllib.request
from typing import Any, Iterator, List, Optional

from ._api import NbhookError

__all__ = ["NotebookPathError", "resolve_notebook", "current_notebook"]

#: Seconds to wait for a Jupyter server's session list (it is on this machine).
SESSIONS_TIMEOUT_S = 2.0


class NotebookPathError(NbhookError, ValueError):
    """No path was given and the current notebook could not be found."""


def resolve_notebook(path: Any, call: str) -> str:
    """The absolute path of ``path``, or of the current notebook when ``path`` is None."""
    if path is not None:
        text = os.fsdecode(path)
        if not text.strip():
            raise NotebookPathError(
                "webhook.{}(): path is empty: give the notebook's file, e.g. "
                'path="report.ipynb"'.format(call)
            )
        return os.path.abspath(os.path.expanduser(text))
    found = current_notebook()
    if found is None:
        raise NotebookPathError(
            "webhook.{0}(): cannot tell which notebook this is (no Jupyter session names it): "
            'pass its path, e.g. naas.webhook.{0}(path="my_notebook.ipynb")'.format(call)
        )
    return found


def current_notebook() -> Optional[str]:
    """The absolute path of the notebook this kernel runs, or None when it cannot be found."""
    for candidate in _candidates():
        found = _existing_notebook(candidate)
        if found:
            return found
    return None


def _candidates() -> Iterator[Any]:
    yield os.environ.get("JPY_SESSION_NAME")
    namespace = _user_namespace()
    yield namespace.get("__vsc_ipynb_file__")
    yield namespace.get("__session__")
    try:
        yield from _paths_from_jupyter_sessions()
    except Exception:  # noqa: BLE001 (best effort: any failure means "not found this way")
        return


def _user_namespace() -> dict:
    # Only when IPython is already running this code: never import it just to look.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    namespace = getattr(shell, "user_ns", None)
    return namespace if isinstance(namespace, dict) else {}


def _existing_notebook(candidate: Any) -> Optional[str]:
    """``candidate`` as the absolute path of an existing notebook file, or None.

    jupyter_server gives an absolute path; a relative one is relative to the server's root, which
    the kernel does not know, but the kernel's working directory is the notebook's folder: the
    file name is tried there.
    """
    if not isinstance(candidate, str) or not candidate.strip():
        return None
    if candidate.startswith("file://"):
        candidate = urllib.parse.unquote(urllib.parse.urlsplit(candidate).path)
    candidate = os.path.expanduser(candidate.strip())
    tries = [candidate] if os.path.isabs(candidate) else [candidate, os.path.basename(candidate)]
    for attempt in tries:
        full = os.path.abspath(attempt)
        if full.endswith(".ipynb") and os.path.isfile(full):
            return full
    return None


def _paths_from_jupyter_sessions() -> Iterator[str]:
    kernel_id = _kernel_id()
    if not kernel_id:
        return
    for info in _jupyter_servers():
        url = str(info.get("url") or "")
        root = info.get("root_dir") or info.get("notebook_dir")
        if not url or not isinstance(root, str):
            continue
        request = urllib.request.Request(urllib.parse.urljoin(url, "api/sessions"))
        token = info.get("token")
        if token:
            request.add_header("Authorization", "token " + str(token))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=SESSIONS_TIMEOUT_S) as response:
                sessions = json.loads(response.read().decode("utf-8"))
        except Exception:  # noqa: BLE001 (a stale server file, a server that refuses us)
            continue
        for session in sessions if isinstance(sessions, list) else []:
            kernel = session.get("kernel") if isinstance(session, dict) else None
            if isinstance(kernel, dict) and kernel.get("id") == kernel_id:
                relative = session.get("path") or (session.get("notebook") or {}).get("path")
                if isinstance(relative, str) and relative:
                    yield os.path.join(os.path.expanduser(root), relative)


def _kernel_id() -> Optional[str]:
    """This kernel's id, from its connection file name (``kernel-<id>.json``)."""
    connection_file = _connection_file()
    if not connection_file:
        return None
    name = os.path.basename(connection_file)
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-") : -len(".json")]
    return None


def _connection_file() -> Optional[str]:
    ipykernel = sys.modules.get("ipykernel")
    if ipykernel is None:
        return None
    try:
        from ipykernel.connect import get_connection_file

        return get_connection_file()
    except Exception:  # noqa: BLE001 (not in a kernel)
        return None


def _jupyter_servers() -> List[dict]:
    folders: List[str] = []
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        folders.append(os.environ["JUPYTER_RUNTIME_DIR"])
    connection_file = _connection_file()
    if connection_file:
        folders.append(os.path.dirname(os.path.abspath(connection_file)))
    jupyter_core_paths = sys.modules.get("jupyter_core.paths")
    if jupyter_core_paths is not None:
        try:
            folders.append(jupyter_core_paths.jupyter_runtime_dir())
        except Exception:  # noqa: BLE001
            pass
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    folders.append(os.path.join(os.path.expanduser(data_home), "jupyter", "runtime"))
    servers: List[dict] = []
    seen = set()
    for folder in folders:
        for pattern in ("jpserver-*.json", "nbserver-*.json"):
            for file in sorted(glob.glob(os.path.join(folder, pattern))):
                real = os.path.realpath(file)
                if real in seen:
                    continue
                seen.add(real)
                try:
                    with open(file, encoding="utf-8") as handle:
                        info = json.load(handle)
                except (OSError, ValueError):
                    continue
                if isinstance(info, dict):
                    servers.append(info)
    return servers
