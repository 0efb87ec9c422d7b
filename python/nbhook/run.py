"""Whether this kernel is running a webhook call, and what the runner told it about the call.

The runner sets these environment variables in the kernel (read at call time, not at import, so
a pre-started kernel can receive them later):

- ``NBHOOK_RUN``: present (non-empty) during a run; when it holds a JSON object, its ``path``
  (the notebook being run) and ``url`` (its webhook URL) keys are used.
- ``NBHOOK_WEBHOOK_URL``: the webhook URL of the notebook being run (wins over ``url`` above).

Notebooks written for Naas assign ``naas.n_env.current = {"uid", "path", "env": "RUNNER",
"runtime"}`` in their injected cell; ``n_env`` accepts that, and ``env == "RUNNER"`` also
counts as being in a run.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

__all__ = ["n_env", "in_run", "run_info", "webhook_url", "is_run_notebook"]


class Env:
    """Naas's ``n_env``: any attribute may be set; ``current`` describes the current run."""

    def __init__(self) -> None:
        self.current: Dict[str, Any] = {}

    def __repr__(self) -> str:
        return "<nbhook n_env current={!r}>".format(self.current)


n_env = Env()


def run_info() -> Dict[str, Any]:
    """``NBHOOK_RUN`` parsed as a JSON object; ``{}`` when it is absent or not a JSON object."""
    raw = os.environ.get("NBHOOK_RUN", "")
    try:
        info = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def in_run() -> bool:
    """True while the notebook runs as a webhook call (and not in someone's editor)."""
    if os.environ.get("NBHOOK_RUN", "").strip():
        return True
    current = getattr(n_env, "current", None)
    return isinstance(current, dict) and current.get("env") == "RUNNER"


def webhook_url() -> Optional[str]:
    """The webhook URL of the notebook being run, when the runner provided it."""
    url = os.environ.get("NBHOOK_WEBHOOK_URL") or run_info().get("url")
    return url if isinstance(url, str) and url else None


def is_run_notebook(path: Optional[str]) -> bool:
    """Whether ``path`` names the notebook being run (``None`` means "this notebook")."""
    if path is None:
        return True
    current = run_info().get("path")
    if not isinstance(current, str) or not current:
        return False
    return os.path.abspath(os.fspath(path)) == os.path.abspath(current)
