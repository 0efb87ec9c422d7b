"""Secrets for notebooks: read from the kernel's environment, never stored by the notebook.

nbhook gives a run the secrets stored for its webhook (``nbhook secrets set NAME``, encrypted at
rest) as ``NBHOOK_SECRET_<NAME>`` variables, set before the first cell; secrets put in the server's
environment with that prefix are there too.

``get("OPENAI_KEY")`` returns ``$NBHOOK_SECRET_OPENAI_KEY``, else ``$OPENAI_KEY``, else None
(so ``secret.get("X") or "YOUR_X"`` works as in Naas templates). A name that is not a valid
variable name is also tried upper-cased with other characters turned into ``_``
(``"my-key"`` -> ``MY_KEY``). ``add`` and ``delete`` cannot work from a notebook: they print the
command that does it and return None.
"""

from __future__ import annotations

import os
import re
from typing import Any, List, Optional

__all__ = ["get", "list", "add", "delete", "PREFIX"]

PREFIX = "NBHOOK_SECRET_"


def get(name: Optional[str] = None, default: Any = None, *_args: Any, **_kwargs: Any) -> Any:
    """The secret's value, or ``default`` (None) when it is not set."""
    if not name:
        return default
    for variable in _candidates(str(name)):
        value = os.environ.get(variable)
        if value is not None:
            return value
    return default


def list(*_args: Any, **_kwargs: Any) -> List[str]:  # noqa: A001 (Naas name)
    """The names of the secrets given with the ``NBHOOK_SECRET_`` prefix."""
    return sorted(k[len(PREFIX) :] for k in os.environ if k.startswith(PREFIX) and k != PREFIX)


def add(name: Optional[str] = None, secret: Any = None, *_args: Any, **_kwargs: Any) -> None:
    """Not possible from a notebook: secrets are set on the server (``nbhook secrets set``)."""
    print(
        "secret.add(): not supported in a notebook; run `nbhook secrets set {}` (the value on stdin)".format(
            name or "NAME"
        )
    )


def delete(name: Optional[str] = None, *_args: Any, **_kwargs: Any) -> None:
    """Not possible from a notebook: secrets are deleted on the server (``nbhook secrets delete``)."""
    print("secret.delete(): not supported in a notebook; run `nbhook secrets delete {}`".format(name or "NAME"))


def _candidates(name: str) -> List[str]:
    normalized = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    names = [PREFIX + name, PREFIX + normalized, name, normalized]
    return [n for i, n in enumerate(names) if n and n not in names[:i]]
