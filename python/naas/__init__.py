"""Naas compatibility: ``import naas`` gives nbhook's helper under Naas's names.

``naas.webhook`` is ``nbhook.webhook`` but for ``respond_csv``, which answers a DataFrame as Naas did
(``;``-separated, every field quoted; see ``naas.webhook``); ``naas.api`` is a deprecated alias of
it that warns.
``naas.secret`` / ``naas.secrets`` is ``nbhook.secret``, ``naas.n_env`` is ``nbhook.n_env``;
``naas.dependency``, ``naas.scheduler``, ``naas.asset`` / ``naas.assets`` and
``naas.notification`` / ``naas.notifications`` are the stand-ins of ``nbhook.compat``.
Each name is also registered as a submodule, so ``import naas.webhook`` works too.
"""

import sys

from nbhook import compat as _compat
from nbhook import secret
from nbhook.run import n_env

from . import webhook

from ._deprecated import DeprecatedAlias as _DeprecatedAlias

api = _DeprecatedAlias("naas.api", webhook, "naas.webhook")
secrets = secret
dependency = _compat.dependency
scheduler = _compat.scheduler
asset = assets = _compat.asset
notification = notifications = _compat.notification

for _name in (
    "webhook",
    "api",
    "secret",
    "secrets",
    "dependency",
    "scheduler",
    "asset",
    "assets",
    "notification",
    "notifications",
):
    sys.modules.setdefault(__name__ + "." + _name, globals()[_name])
del _name

__all__ = [
    "webhook",
    "api",
    "secret",
    "secrets",
    "n_env",
    "dependency",
    "scheduler",
    "asset",
    "assets",
    "notification",
    "notifications",
]
