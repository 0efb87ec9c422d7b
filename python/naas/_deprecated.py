"""A module alias that warns on every use (Naas's ``naas.api``, replaced by ``naas.webhook``)."""

import types
import warnings
from typing import Any


class DeprecatedAlias(types.ModuleType):
    """Forwards attribute reads to ``target``, warning that ``name`` is deprecated."""

    def __init__(self, name: str, target: Any, replacement: str) -> None:
        super().__init__(name, "Deprecated alias of {}.".format(replacement))
        self._target = target
        self._replacement = replacement

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        warnings.warn(
            "{} is deprecated, use {} instead".format(self.__name__, self._replacement),
            FutureWarning,
            stacklevel=2,
        )
        return getattr(self._target, attribute)
