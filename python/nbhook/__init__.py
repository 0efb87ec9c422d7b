"""nbhook's in-kernel helper: what a notebook called as a webhook answers.

    import nbhook
    nbhook.webhook.respond_json({"ok": True})

The runner puts the folder holding this package on the kernel's ``PYTHONPATH``. Importing it
needs only the standard library; IPython is imported when a response is displayed, and numpy /
pandas are used only when the values given are theirs. The same package is importable as
``naas`` for notebooks written for Naas.

Modules: ``webhook`` (``respond_*`` and the management calls), ``secret`` (secrets from the
environment), ``run`` (``n_env`` and whether a run is in progress), ``compat`` (stand-ins for
other Naas features).
"""

from . import compat, manage, run, secret, webhook
from .run import n_env
from .webhook import (
    respond,
    respond_csv,
    respond_file,
    respond_html,
    respond_image,
    respond_json,
    respond_markdown,
    respond_notebook,
    respond_svg,
    respond_text,
)

__version__ = "0.1.0"

__all__ = [
    "compat",
    "manage",
    "run",
    "secret",
    "webhook",
    "n_env",
    "respond",
    "respond_csv",
    "respond_file",
    "respond_html",
    "respond_image",
    "respond_json",
    "respond_markdown",
    "respond_notebook",
    "respond_svg",
    "respond_text",
]
