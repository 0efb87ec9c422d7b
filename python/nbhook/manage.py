"""Webhook management calls, as ``naas.webhook.*`` offers them, over the nbhook server's API.

    import naas                                  # or: from nbhook import webhook
    url = naas.webhook.add()                     # deploy this notebook (its saved file)
    naas.webhook.add(path="other.ipynb", params={"inline": True, "city": "Paris"})
    naas.webhook.find()                          # its URL, or None
    naas.webhook.list()                          # versions: [{histo, created_at, size, live}]
    naas.webhook.get(histo="20261126101221879662")   # writes 20261126101221879662___<name>
    naas.webhook.clear()                         # removes every version but the live one
    naas.webhook.get_output()                    # writes output__<name> (the latest run's)
    naas.webhook.clear_output()                  # removes the latest output
    naas.webhook.delete()                        # the URL answers 404 from now on
    naas.webhook.currents(raw=True)              # every webhook deployed

Server and token: ``$NBHOOK_URL`` (default ``http://127.0.0.1:5000``) and ``$NBHOOK_TOKEN``, else
the file ``$NBHOOK_HOME/api-token`` (default ``~/.nbhook/api-token``); see ``nbhook._api``.

``path`` is the notebook's file, relative to the working directory (a kernel's is its notebook's
folder); without it the current notebook is used when Jupyter or VS Code names it (see
``nbhook._locate``), else the call asks for ``path=``. A webhook is known by that absolute path.

Where nbhook differs from Naas, on purpose:

- ``clear()`` without ``histo`` (the guide's "All") removes every version **except the live one**
  (Naas removed the production notebook itself). ``clear(histo=X)`` removes one version; the live
  version only with ``force=True`` (the previous version becomes live). ``histo="all"`` and
  ``all=True`` mean the same as no ``histo``. Outputs are left to ``clear_output``.
- ``clear_output()`` removes the latest output (the guide's "One"; Naas removed ``output__<name>``),
  ``clear_output(histo=X)`` one, ``clear_output(all=True)`` every one.
- ``list()`` and ``list_output()`` are about one notebook (Naas listed every job without a path).
- ``get`` and ``get_output`` raise ``FileExistsError`` rather than overwrite a file, and errors
  raise exceptions that say what to do (Naas printed and wrote ``Not_found.txt``).

During a run on the server (``nbhook.run.in_run()``) nothing is deployed or deleted, as with Naas
in production, but the read-only calls work:

- ``add`` prints "No add done, you are in production" and returns the URL of the webhook being
  run (None for another notebook); ``delete``, ``clear`` and ``clear_output`` print that they did
  nothing and return None; so do ``get`` and ``get_output``, which would write files into the
  deployed folder (Naas's fail in production, its issue #109).
- ``find``, ``list``, ``list_output`` and ``currents`` ask the server, as outside a run. ``find()``
  of the running notebook answers its URL without asking. Without ``path`` they are about the
  running notebook; a relative ``path`` is taken from the running notebook's folder (Naas ran a
  notebook in its own folder). The server is ``$NBHOOK_URL``, else the one of the run's webhook
  URL; the token ``$NBHOOK_TOKEN``, else the token file of ``$NBHOOK_HOME``, as the kernel sees
  them. When the server cannot be reached or refuses the token, the call prints why and returns
  None, so a run never fails on it.

Errors (importable from here): ``ServerUnreachable`` (a ``ConnectionError``), ``Unauthorized`` (a
``PermissionError``), ``NotFound`` (a ``LookupError``), ``Conflict``, ``ApiError`` (their base,
with ``status`` and ``code``), ``NotebookPathError`` (a ``ValueError``), all ``NbhookError``; and
``FileExistsError`` / ``FileNotFoundError`` for local files.

Every call accepts and ignores extra arguments (real notebooks pass ``recurrence=`` and the like);
outside a run it prints what it ignored.
"""

from __future__ import annotations

import base64
import builtins
import json
import os
import re
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._api import (  # noqa: F401  (the errors are re-exported for `except manage.NotFound`)
    ApiError,
    Client,
    Conflict,
    NbhookError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
)
from ._locate import NotebookPathError, resolve_notebook
from .run import in_run, is_run_notebook, run_info, webhook_url

__all__ = [
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

_HISTO = re.compile(r"^\d{20}$")
_VERSION_FIELDS = ("histo", "created_at", "size", "live")
_OUTPUT_FIELDS = ("histo", "created_at", "size", "run_id")
_CURRENTS_COLUMNS = ("path", "url", "live_histo", "last_run_at", "last_run_status")
#: Seconds a read-only call waits for the server during a run.
_RUN_TIMEOUT_S = 10.0
#: What a read-only call that could not ask the server during a run got.
_UNASKED: Any = object()


def add(
    path: Optional[str] = None,
    params: Optional[Mapping[str, Any]] = None,
    debug: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Optional[str]:
    """Deploy the notebook's **saved** file as a webhook; print and return its URL.

    ``params``: ``notif_up`` / ``notif_down`` (an address or a list), ``next_url`` (an absolute
    http(s) URL to redirect to after a run), ``inline`` (answer without a download header), and
    any other name, injected into every run. ``debug=True`` prints the request and the reply and
    makes the server log each run in detail. A re-``add`` keeps the URL and adds a version.
    nbhook extras: ``timeout_s=`` (run time limit), ``files=[...]`` (files the notebook reads,
    deployed into its working directory, paths relative to the notebook's folder kept) and
    ``name=`` (the webhook's name, its identity; default the notebook's absolute path).
    """
    if in_run():
        print("No add done, you are in production")
        return _run_url(path)
    timeout_s = kwargs.pop("timeout_s", None)
    files = kwargs.pop("files", None)
    name = kwargs.pop("name", None)
    _ignored("add", args, kwargs)
    notebook_path = resolve_notebook(path, "add")
    body: Dict[str, Any] = {
        "path": notebook_path,
        "source_host": socket.gethostname(),
        "notebook": _read_notebook(notebook_path),
        "params": _params(params),
        "debug": bool(debug),
    }
    if name is not None:
        body["name"] = str(name)
    if timeout_s is not None:
        body["timeout_s"] = _positive_number(timeout_s, "timeout_s")
    if files:
        body["files"] = _dependency_files(files, notebook_path)
    answer = _client(debug).request("POST", "/api/webhooks", body=body)
    webhook, version = answer["webhook"], answer["version"]
    previous = answer.get("previous")
    if previous:
        print(
            "Warning: the webhook {} was deployed from {} as {}; this deploy is its version {}, at "
            "the same URL (to keep both, add with another name=)".format(
                webhook.get("name"),
                "host " + previous["host"] if previous.get("host") else "an unknown host",
                previous.get("path"),
                answer.get("versions"),
            )
        )
    print(
        "Deployed {} (version {}). Call it at:\n{}".format(
            notebook_path, version.get("histo"), webhook["url"]
        )
    )
    return webhook["url"]


def find(path: Optional[str] = None, *args: Any, **kwargs: Any) -> Optional[str]:
    """The webhook URL of a notebook (printed too), or None when it is not deployed."""
    if in_run():
        url = _run_url(path)
        if url is not None:
            print(url)
            return url
    client = _client(kwargs.pop("debug", False))
    _ignored("find", args, kwargs)
    found = _during_run("find", lambda: _find(client, path), missing=_UNASKED)
    if found is _UNASKED:
        return None
    notebook_path, webhook = found
    if webhook is None:
        print("No webhook for {}: deploy it with naas.webhook.add(path={!r})".format(notebook_path, notebook_path))
        return None
    print(webhook["url"])
    return webhook["url"]


def list(path: Optional[str] = None, *args: Any, **kwargs: Any) -> Optional[List[Dict[str, Any]]]:  # noqa: A001 (Naas name)
    """The deployed versions of a notebook, newest first: ``[{histo, created_at, size, live}]``."""
    client = _client(kwargs.pop("debug", False))
    _ignored("list", args, kwargs)

    def versions() -> List[Dict[str, Any]]:
        webhook = _lookup(client, _notebook(path, "list"), ref=path)
        answer = client.request("GET", _webhook_path(webhook, "versions"))
        return [{k: v.get(k) for k in _VERSION_FIELDS} for v in answer["versions"]]

    return _during_run("list", versions)


def list_output(path: Optional[str] = None, *args: Any, **kwargs: Any) -> Optional[List[Dict[str, Any]]]:
    """The saved outputs of a notebook's runs, newest first: ``[{histo, created_at, size, run_id}]``."""
    client = _client(kwargs.pop("debug", False))
    _ignored("list_output", args, kwargs)

    def outputs() -> List[Dict[str, Any]]:
        webhook = _lookup(client, _notebook(path, "list_output"), ref=path)
        answer = client.request("GET", _webhook_path(webhook, "outputs"))
        return [{k: o.get(k) for k in _OUTPUT_FIELDS} for o in answer["outputs"]]

    return _during_run("list_output", outputs)


def get(
    path: Optional[str] = None, histo: Optional[str] = None, *args: Any, **kwargs: Any
) -> Optional[str]:
    """Download a deployed version next to the notebook and return the file written.

    The latest version is written as ``prod_<name>``, version ``histo`` as ``<histo>___<name>``.
    An existing file is never overwritten (``FileExistsError``).
    """
    if in_run():
        return _nothing_during_run("get")
    client = _client(kwargs.pop("debug", False))
    _ignored("get", args, kwargs)
    notebook_path = resolve_notebook(path, "get")
    histo = _histo(histo, "get", latest_ok=True)
    name = os.path.basename(notebook_path)
    target = _target(notebook_path, "prod_" + name if histo is None else histo + "___" + name, "get")
    webhook = _lookup(client, notebook_path, ref=path)
    if histo is None:
        missing = "{} has no deployed version left (all were cleared): deploy it again with naas.webhook.add(path={!r})".format(
            notebook_path, notebook_path
        )
    else:
        missing = "no version {} of {}: naas.webhook.list(path={!r}) lists them".format(
            histo, notebook_path, notebook_path
        )
    data = client.request(
        "GET", _webhook_path(webhook, "versions", histo or "latest"), raw=True, not_found=missing
    )
    _write_new(target, data, "get")
    which = histo or _downloaded(client, "live")
    print("Saved version {} of {} to {}".format(which, name, target))
    return target


def clear(
    path: Optional[str] = None,
    histo: Optional[str] = None,
    all: bool = False,  # noqa: A002 (Naas name)
    force: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Optional[List[str]]:
    """Remove deployed versions; return the histos removed.

    No ``histo`` (or ``histo="all"``, or ``all=True``): every version except the live one.
    ``histo=X``: that version; the live version is refused unless ``force=True``.
    """
    if in_run():
        return _nothing_during_run("clear")
    client = _client(kwargs.pop("debug", False))
    _ignored("clear", args, kwargs)
    notebook_path = resolve_notebook(path, "clear")
    histo, every = _histo_or_all(histo, all, "clear")
    webhook = _lookup(client, notebook_path, ref=path)
    if every:
        deleted = client.request("DELETE", _webhook_path(webhook, "versions"))["deleted"]
        print(
            "Removed {} old version(s) of {}; the live version {} stays (delete() removes the "
            "webhook)".format(len(deleted), notebook_path, webhook.get("live_histo"))
        )
        return deleted
    try:
        answer = client.request(
            "DELETE",
            _webhook_path(webhook, "versions", histo),
            query={"force": "true"} if force else None,
            not_found="no version {} of {}: naas.webhook.list(path={!r}) lists them".format(
                histo, notebook_path, notebook_path
            ),
        )
    except Conflict as err:
        raise Conflict(
            "version {} is the live version of {} (the one its URL runs), so it was kept: deploy "
            "a newer version first, pass force=True to remove it anyway (the previous version "
            "becomes live), or remove the webhook with naas.webhook.delete()".format(histo, notebook_path),
            err.status,
            err.code,
        ) from None
    print("Removed version {} of {}".format(histo, notebook_path))
    return answer["deleted"]


def get_output(
    path: Optional[str] = None, histo: Optional[str] = None, *args: Any, **kwargs: Any
) -> Optional[str]:
    """Download a run's output notebook next to the notebook and return the file written.

    The latest output is written as ``output__<name>``, output ``histo`` as
    ``<histo>___output__<name>``. An existing file is never overwritten (``FileExistsError``).
    """
    if in_run():
        return _nothing_during_run("get_output")
    client = _client(kwargs.pop("debug", False))
    _ignored("get_output", args, kwargs)
    notebook_path = resolve_notebook(path, "get_output")
    histo = _histo(histo, "get_output", latest_ok=True)
    name = os.path.basename(notebook_path)
    wanted = "output__" + name if histo is None else histo + "___output__" + name
    target = _target(notebook_path, wanted, "get_output")
    webhook = _lookup(client, notebook_path, ref=path)
    if histo is None:
        missing = "no output yet for {}: call its webhook URL first (each run keeps its output)".format(
            notebook_path
        )
    else:
        missing = "no output {} of {}: naas.webhook.list_output(path={!r}) lists them".format(
            histo, notebook_path, notebook_path
        )
    data = client.request(
        "GET", _webhook_path(webhook, "outputs", histo or "latest"), raw=True, not_found=missing
    )
    _write_new(target, data, "get_output")
    which = histo or _downloaded(client, "latest")
    print("Saved output {} of {} to {}".format(which, name, target))
    return target


def clear_output(
    path: Optional[str] = None,
    histo: Optional[str] = None,
    all: bool = False,  # noqa: A002 (Naas name)
    *args: Any,
    **kwargs: Any,
) -> Optional[List[str]]:
    """Remove output notebooks; return the histos removed.

    No ``histo``: the latest output. ``histo=X``: that one. ``all=True`` or ``histo="all"``: all.
    """
    if in_run():
        return _nothing_during_run("clear_output")
    client = _client(kwargs.pop("debug", False))
    _ignored("clear_output", args, kwargs)
    notebook_path = resolve_notebook(path, "clear_output")
    histo, every = _histo_or_all(histo, all, "clear_output")
    webhook = _lookup(client, notebook_path, ref=path)
    if every:
        deleted = client.request("DELETE", _webhook_path(webhook, "outputs"))["deleted"]
        print("Removed {} output(s) of {}".format(len(deleted), notebook_path))
        return deleted
    if histo is None:
        outputs = client.request("GET", _webhook_path(webhook, "outputs"))["outputs"]
        if not outputs:
            print("No output to remove for {}".format(notebook_path))
            return []
        histo = outputs[0]["histo"]
    answer = client.request(
        "DELETE",
        _webhook_path(webhook, "outputs", histo),
        not_found="no output {} of {}: naas.webhook.list_output(path={!r}) lists them".format(
            histo, notebook_path, notebook_path
        ),
    )
    print("Removed output {} of {}".format(histo, notebook_path))
    return answer["deleted"]


def delete(
    path: Optional[str] = None,
    all: bool = True,  # noqa: A002 (Naas name; history is always kept)
    debug: bool = False,
    *args: Any,
    **kwargs: Any,
) -> None:
    """Remove a webhook: its URL answers 404 from now on. Versions and outputs are kept, and a
    later ``add`` of the same path brings the same URL back."""
    if in_run():
        return _nothing_during_run("delete")
    client = _client(debug)
    _ignored("delete", args, kwargs)
    notebook_path = resolve_notebook(path, "delete")
    webhook = _lookup(client, notebook_path, ref=path)
    client.request("DELETE", _webhook_path(webhook))
    print(
        "Deleted the webhook of {}: its URL now answers 404 (naas.webhook.add() brings it "
        "back)".format(notebook_path)
    )
    return None


def currents(raw: bool = False, *args: Any, **kwargs: Any) -> Any:
    """The webhooks deployed.

    ``raw=True``: the server's records (a list of dicts: id, path, name, url, params, ...).
    Otherwise a table is printed and the rows (path, url, live_histo, last_run_at,
    last_run_status) are returned: a pandas DataFrame when pandas is installed, else a list of
    dicts.
    """
    client = _client(kwargs.pop("debug", False))
    _ignored("currents", args, kwargs)
    webhooks = _during_run("currents", lambda: client.request("GET", "/api/webhooks")["webhooks"])
    if webhooks is None:
        return None
    if raw:
        return webhooks
    rows = [{k: w.get(k) for k in _CURRENTS_COLUMNS} for w in webhooks]
    _print_table(rows)
    try:
        import pandas
    except Exception:  # noqa: BLE001 (absent or broken: plain rows)
        return rows
    return pandas.DataFrame(rows, columns=builtins.list(_CURRENTS_COLUMNS))


# -- helpers -------------------------------------------------------------------------------------


def _client(debug: Any = False) -> Client:
    """The server's client; during a run, the server of the run's webhook URL unless
    ``$NBHOOK_URL`` names one."""
    url = None
    if in_run() and not os.environ.get("NBHOOK_URL"):
        running = webhook_url()
        if running:
            url = re.sub(r"/notebook/[^/]+/?$", "", running.split("?", 1)[0])
        # A run waits for the answer: a server that does not answer must not hold it a minute.
        return Client(url=url, debug=bool(debug), timeout=_RUN_TIMEOUT_S)
    return Client(url=url, debug=bool(debug))


def _notebook(path: Any, call: str) -> str:
    """The absolute path a call is about; during a run, the running notebook's by default, and a
    relative path taken from its folder (Naas ran notebooks in their folder)."""
    running = run_info().get("path") if in_run() else None
    if not isinstance(running, str) or not os.path.isabs(running):
        return resolve_notebook(path, call)
    if path is None or _run_url(path) is not None or is_run_notebook(path):
        return running
    text = os.fsdecode(path)
    if not text.strip() or os.path.isabs(os.path.expanduser(text)):
        return resolve_notebook(path, call)
    return os.path.normpath(os.path.join(os.path.dirname(running), text))


def _find(client: Client, path: Any) -> Tuple[str, Optional[Dict[str, Any]]]:
    notebook_path = _notebook(path, "find")
    return notebook_path, _lookup(client, notebook_path, required=False, ref=path)


def _during_run(call: str, ask: Any, missing: Any = None) -> Any:
    """``ask()``; during a run, a server that cannot be reached or refuses the token makes the
    call print why and return ``missing`` instead of failing the run."""
    if not in_run():
        return ask()
    try:
        return ask()
    except NotebookPathError as err:
        # A run whose runner named no notebook (Naas's n_env alone): nothing to ask about.
        print("webhook.{}(): nothing done during this run: {}".format(call, err))
        return missing
    except (ServerUnreachable, Unauthorized) as err:
        print(
            "webhook.{}(): could not ask the nbhook server during this run, nothing returned: {} "
            "(a run reaches the server at $NBHOOK_URL, else at its webhook URL's server, with "
            "$NBHOOK_TOKEN, else the token file of $NBHOOK_HOME)".format(call, err)
        )
        return missing


def _lookup(
    client: Client, notebook_path: str, required: bool = True, ref: Any = None
) -> Optional[Dict[str, Any]]:
    """The webhook ``ref`` (the ``path=`` given) names, as the CLI finds it: the webhook of that
    name; else the one named by the notebook's absolute path, else the only one deployed from it
    (several: ``Conflict`` listing their names)."""
    names = [os.fsdecode(ref)] if isinstance(ref, (str, bytes, os.PathLike)) else []
    for name in names + [notebook_path]:
        found = client.request("GET", "/api/webhooks", query={"name": name})["webhooks"]
        if found:
            return found[0]
    webhooks = client.request("GET", "/api/webhooks", query={"path": notebook_path})["webhooks"]
    webhooks = [w for w in webhooks if w.get("path") == notebook_path]
    if len(webhooks) == 1:
        return webhooks[0]
    if len(webhooks) > 1:
        raise Conflict(
            "{} is deployed under several names ({}): pass one of them as path=".format(
                notebook_path, ", ".join(w.get("name", "?") for w in webhooks)
            ),
            409,
            "conflict",
        )
    if not required:
        return None
    raise NotFound(
        "no webhook for {}: deploy it with naas.webhook.add(path={!r})".format(notebook_path, notebook_path),
        404,
        "not-found",
    )


def _webhook_path(webhook: Dict[str, Any], *parts: str) -> str:
    segments = ["api", "webhooks", webhook["id"], *parts]
    return "/" + "/".join(urllib.parse.quote(str(s), safe="") for s in segments)


def _read_notebook(notebook_path: str) -> Dict[str, Any]:
    try:
        with open(notebook_path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            "webhook.add(): no notebook at {}: save it first, or check path=".format(notebook_path)
        ) from None
    except IsADirectoryError:
        raise IsADirectoryError(
            "webhook.add(): {} is a folder: give the .ipynb file".format(notebook_path)
        ) from None
    try:
        notebook = json.loads(raw.decode("utf-8-sig"))
    except ValueError as err:
        raise ValueError("webhook.add(): {} is not a notebook (invalid JSON: {})".format(notebook_path, err)) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), builtins.list):
        raise ValueError("webhook.add(): {} is not a notebook (no cells)".format(notebook_path))
    return notebook


def _params(params: Any) -> Dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(
            "webhook.add(): params must be a dict, e.g. params={{\"inline\": True}}, not {}".format(
                type(params).__name__
            )
        )
    params = {str(k): v for k, v in params.items()}
    try:
        json.dumps(params)
    except (TypeError, ValueError) as err:
        raise TypeError(
            "webhook.add(): params must hold JSON values (str, numbers, bool, None, lists, "
            "dicts): {}".format(err)
        ) from None
    return params


def _positive_number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise ValueError("webhook.add(): {} must be a number of seconds above 0, got {!r}".format(name, value))
    return int(number) if number.is_integer() else number


def _dependency_files(files: Any, notebook_path: str) -> List[Dict[str, str]]:
    if isinstance(files, (str, bytes, os.PathLike)):
        files = [files]
    folder = os.path.dirname(notebook_path)
    out = []
    for file in files:
        full = os.path.abspath(os.path.expanduser(os.fsdecode(file)))
        relative = os.path.relpath(full, folder)
        if relative.startswith(os.pardir + os.sep) or relative == os.pardir or os.path.isabs(relative):
            relative = os.path.basename(full)
        try:
            with open(full, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise FileNotFoundError("webhook.add(): cannot read files= entry {}: {}".format(full, err.strerror)) from None
        out.append({"path": relative.replace(os.sep, "/"), "data": base64.b64encode(data).decode("ascii")})
    return out


def _histo(histo: Any, call: str, latest_ok: bool = False) -> Optional[str]:
    """``histo`` as a 20-digit id, None for "latest"; ValueError for anything else."""
    if histo is None:
        return None
    text = str(histo).strip()
    if latest_ok and text.lower() == "latest":
        return None
    if not _HISTO.match(text):
        raise ValueError(
            "webhook.{}(): histo must be a version id as naas.webhook.list() shows it, like "
            "20201008101221879662; got {!r}".format(call, histo)
        )
    return text


def _histo_or_all(histo: Any, every: Any, call: str) -> Tuple[Optional[str], bool]:
    if isinstance(histo, str) and histo.strip().lower() == "all":
        histo, every = None, True
    if histo is not None and every:
        raise ValueError("webhook.{}(): give histo= or all=True, not both".format(call))
    histo = _histo(histo, call)
    if call == "clear":
        every = every or histo is None
    return histo, bool(every)


def _target(notebook_path: str, file_name: str, call: str) -> str:
    """Where to write a downloaded notebook: beside the notebook (its folder, else the working
    directory when that folder does not exist here)."""
    folder = os.path.dirname(notebook_path)
    if not os.path.isdir(folder):
        folder = os.getcwd()
    target = os.path.join(folder, file_name)
    _refuse_existing(target, call)
    return target


def _refuse_existing(target: str, call: str) -> None:
    if os.path.lexists(target):
        raise FileExistsError(
            "webhook.{}(): {} already exists and nbhook never overwrites a file: rename or delete "
            "it, then call {}() again".format(call, target, call)
        )


def _write_new(target: str, data: bytes, call: str) -> None:
    try:
        with open(target, "xb") as handle:
            handle.write(data)
    except FileExistsError:  # created since the check
        _refuse_existing(target, call)
        raise


def _downloaded(client: Client, label: str) -> str:
    """The histo the server says it sent (header ``nbhook-histo``), labelled."""
    histo = client.last_headers.get("nbhook-histo")
    return "{} ({})".format(histo, label) if histo else label


def _print_table(rows: Sequence[Dict[str, Any]]) -> None:
    if not rows:
        print("No webhooks deployed.")
        return
    table = [["PATH", "URL", "LAST RUN"]]
    for row in rows:
        last = " ".join(str(row[k]) for k in ("last_run_status", "last_run_at") if row.get(k))
        table.append([str(row.get("path") or ""), str(row.get("url") or ""), last or "never"])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


def _ignored(call: str, args: Sequence[Any], kwargs: Dict[str, Any]) -> None:
    if (not args and not kwargs) or in_run():
        return
    names = ["{} positional".format(len(args))] if args else []
    names += ["{}=".format(k) for k in kwargs]
    print("webhook.{}(): ignored {} ({}() has no such option)".format(call, ", ".join(names), call))


def _run_url(path: Any) -> Optional[str]:
    """The running webhook's URL when ``path`` names the notebook being run, else None.

    A run's working directory is the webhook's files folder, not the notebook's own folder, so a
    relative path also matches when it ends the running notebook's path (``"nb.ipynb"``,
    ``"reports/nb.ipynb"``).
    """
    if path is None:
        return webhook_url()
    try:
        given = os.fsdecode(path)
    except TypeError:  # not a path at all
        return None
    if is_run_notebook(given):
        return webhook_url()
    running = run_info().get("path")
    if isinstance(running, str) and running and not os.path.isabs(given):
        relative = os.path.normpath(given)
        if not relative.startswith(os.pardir) and os.path.normpath(running).endswith(os.sep + relative):
            return webhook_url()
    return None


def _nothing_during_run(name: str) -> None:
    print("webhook.{}(): nothing done during a run".format(name))
    return None
