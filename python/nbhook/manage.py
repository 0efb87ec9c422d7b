"""Webhook management calls (``add``, ``find``, ``list``, ``get``, ``clear``, ``get_output``,
``clear_output``, ``delete``, ``currents``), as ``naas.webhook.*`` offers them.

During a run they behave like Naas in production: ``add`` and ``find`` print and return the
webhook URL the runner provided (None when it did not, or when ``path`` names another
notebook); the others print that nothing was done and return None. Outside a run they need the
nbhook server, which this module does not talk to yet: they raise ``NotImplementedError``.

Every call accepts extra positional and keyword arguments (real notebooks pass
``recurrence=`` and the like) and ignores them. This whole module is meant to be replaced by
calls to the server's management API.
"""

from __future__ import annotations

from typing import Any, Optional

from .run import in_run, is_run_notebook, webhook_url

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


def add(
    path: Optional[str] = None,
    params: Any = None,
    debug: bool = False,
    *_args: Any,
    **_kwargs: Any,
) -> Optional[str]:
    """Deploy a notebook as a webhook and return its URL (during a run: only the URL)."""
    if not in_run():
        _need_server("add")
    print("No add done, you are in production")
    return _url(path)


def find(path: Optional[str] = None, *_args: Any, **_kwargs: Any) -> Optional[str]:
    """The webhook URL of a notebook, or None."""
    if not in_run():
        _need_server("find")
    url = _url(path)
    print(url)
    return url


def list(path: Optional[str] = None, *_args: Any, **_kwargs: Any) -> None:  # noqa: A001 (Naas name)
    """The deployed versions of a notebook."""
    _nothing_during_run("list")


def list_output(path: Optional[str] = None, *_args: Any, **_kwargs: Any) -> None:
    """The saved outputs of a notebook."""
    _nothing_during_run("list_output")


def get(
    path: Optional[str] = None, histo: Optional[str] = None, *_args: Any, **_kwargs: Any
) -> None:
    """Fetch a deployed version of a notebook."""
    _nothing_during_run("get")


def clear(
    path: Optional[str] = None, histo: Optional[str] = None, *_args: Any, **_kwargs: Any
) -> None:
    """Remove deployed versions of a notebook."""
    _nothing_during_run("clear")


def get_output(
    path: Optional[str] = None, histo: Optional[str] = None, *_args: Any, **_kwargs: Any
) -> None:
    """Fetch an output notebook of a run."""
    _nothing_during_run("get_output")


def clear_output(
    path: Optional[str] = None, histo: Optional[str] = None, *_args: Any, **_kwargs: Any
) -> None:
    """Remove output notebooks."""
    _nothing_during_run("clear_output")


def delete(  # noqa: A002 (Naas names)
    path: Optional[str] = None,
    all: bool = False,
    debug: bool = False,
    *_args: Any,
    **_kwargs: Any,
) -> None:
    """Remove a webhook."""
    _nothing_during_run("delete")


def currents(raw: bool = False, *_args: Any, **_kwargs: Any) -> None:
    """The webhooks deployed."""
    _nothing_during_run("currents")


def _url(path: Optional[str]) -> Optional[str]:
    return webhook_url() if is_run_notebook(path) else None


def _nothing_during_run(name: str) -> None:
    if not in_run():
        _need_server(name)
    print("webhook.{}(): nothing done during a run".format(name))


def _need_server(name: str) -> None:
    raise NotImplementedError(
        "webhook.{}(): the management calls need the nbhook server: coming in the server "
        "issue".format(name)
    )
