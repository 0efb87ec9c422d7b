"""``naas.webhook``: ``nbhook.webhook`` as Naas answers.

Everything is ``nbhook.webhook``'s (the same functions: ``naas.webhook.respond_json is
nbhook.webhook.respond_json``), except ``respond_csv``: given a pandas DataFrame it answers what
Naas answered — ``df.to_html()``'s table as CSV, ``;`` between fields, every field quoted, ``\\n``
line ends, the index column kept with an empty first header cell::

    "";"a";"b"
    "0";"1";"x"

``import nbhook`` keeps pandas' own ``df.to_csv()`` (``,``, quotes only where needed). CSV text
and lists of rows are answered the same way by both.
"""

from __future__ import annotations

from typing import Any

from nbhook import webhook as _nbhook_webhook
from nbhook.webhook import *  # noqa: F401,F403  (naas.webhook.* is nbhook.webhook.*)
from nbhook.webhook import Headers, __all__  # noqa: F401


def respond_csv(data: Any, *, status: Any = None, headers: Headers = None) -> None:
    """Answer with CSV (``text/csv``); a DataFrame as Naas wrote it (see the module)."""
    _nbhook_webhook._respond_csv(data, status, headers, naas_style=True)


def __getattr__(name: str) -> Any:
    # Anything else nbhook.webhook has (its helpers included), for code that reached into it.
    return getattr(_nbhook_webhook, name)
