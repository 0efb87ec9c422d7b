"""Naas features nbhook does not offer, kept so notebooks written for Naas still run.

``dependency.add(path)`` returns the absolute path (files deployed with the notebook sit in
its working directory); ``scheduler``, ``asset`` and ``notification`` calls print that they are
not supported and return None (``asset.add`` returns None in Naas production too). Every call
accepts any arguments (``scheduler.add(recurrence=...)``, ``notifications.send(email=...)``).
"""

from __future__ import annotations

import os
from typing import Any, Optional

__all__ = ["dependency", "scheduler", "asset", "notification"]


class _Unsupported:
    """A Naas namespace whose calls print "not supported" and return None."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)

        def unsupported(*_args: Any, **_kwargs: Any) -> None:
            call = "naas.{}.{}()".format(self._name, attribute)
            print("{}: not supported by nbhook, nothing done".format(call))

        unsupported.__name__ = attribute
        return unsupported

    def __repr__(self) -> str:
        return "<nbhook stand-in for naas.{}>".format(self._name)


class _Dependency(_Unsupported):
    def add(self, path: Optional[str] = None, *_args: Any, **_kwargs: Any) -> Optional[str]:
        """The absolute path of ``path``: deployed files are in the notebook's working directory."""
        if path is None:
            print("naas.dependency.add(): give the path of the file the notebook needs")
            return None
        return os.path.abspath(os.fspath(path))


dependency = _Dependency("dependency")
scheduler = _Unsupported("scheduler")
asset = _Unsupported("asset")
notification = _Unsupported("notification")
