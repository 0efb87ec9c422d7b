"""Turn any Python value into JSON text without failing (used by ``respond_json``).

``dumps(value)`` first converts ``value`` into plain JSON values (dict with str keys, list, str,
int, float, bool, None) with ``to_jsonable`` and then calls
``json.dumps(..., ensure_ascii=False, allow_nan=False, separators=(", ", ": "))``. Those are
``json.dumps``'s default separators, so for ASCII data the bytes are exactly what Naas sent
(``json.dumps(data)``); non-ASCII text is written as UTF-8 instead of ``\\uXXXX`` escapes.

Conversions, in the order they are tried:

- ``float`` NaN / +-inf (also numpy floats) -> ``null`` (keeps the text valid JSON)
- ``dict`` and other mappings -> object; keys become strings the way ``json`` spells them
  (``True`` -> ``"true"``, ``None`` -> ``"null"``, ``1`` -> ``"1"``), others through the same
  conversion (a date key -> its isoformat) or ``str()``
- ``list`` / ``tuple`` -> array; ``set`` / ``frozenset`` -> array, sorted when the items can be
  sorted (so the text is predictable)
- ``bytes`` / ``bytearray`` / ``memoryview`` -> the UTF-8 text if it decodes, else base64
- ``datetime`` / ``date`` / ``time`` (and pandas ``Timestamp``) -> ``isoformat()``;
  ``timedelta`` -> seconds as a float; pandas ``NaT`` / ``NA`` -> ``null``
- ``Decimal`` -> ``int`` when written without a fraction (``Decimal("3")``), else ``float``;
  NaN / infinite -> ``null``
- ``UUID`` and ``pathlib`` paths -> ``str()``; ``Enum`` -> its value
- an exception -> ``{"error": <type name>, "message": str(exc)}``
- numpy scalars -> Python scalars, arrays -> nested lists, ``datetime64`` -> ISO text
- pandas ``DataFrame`` -> list of row objects (``orient="records"``), ``Series`` -> object,
  ``Index`` -> array
- dataclass instances -> object of their fields; anything with a ``to_dict()`` -> its result;
  other iterables (generators, ``range``, dict views) -> array; plain objects -> their public
  ``__dict__`` attributes
- anything else -> ``str(value)`` (``repr`` if ``str`` fails)

A container met again inside itself becomes the string ``"<circular reference>"``; nesting deeper
than ``MAX_DEPTH`` becomes ``str()`` of the value.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import sys
import types
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Set

SEPARATORS = (", ", ": ")
MAX_DEPTH = 200
CIRCULAR = "<circular reference>"

_CALLABLE_TYPES = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
)


def dumps(value: Any) -> str:
    """JSON text for ``value``; never raises for unusual values (see the module docstring)."""
    return json.dumps(
        to_jsonable(value), ensure_ascii=False, allow_nan=False, separators=SEPARATORS
    )


def to_jsonable(value: Any) -> Any:
    """``value`` converted into plain JSON values (dict, list, str, int, float, bool, None)."""
    return _convert(value, set(), 0)


def _convert(value: Any, active: Set[int], depth: int) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return _convert(value.value, active, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if depth > MAX_DEPTH:
        return _to_str(value)

    special = _convert_special(value)
    if special is not _NO_MATCH:
        return special

    if id(value) in active:
        return CIRCULAR
    active.add(id(value))
    try:
        return _convert_container(value, active, depth)
    finally:
        active.discard(id(value))


class _NoMatch:
    pass


_NO_MATCH = _NoMatch()


def _convert_special(value: Any) -> Any:
    """Leaf values with a fixed spelling; ``_NO_MATCH`` when ``value`` is not one of them."""
    if _is_pandas_missing(value):
        return None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, (uuid.UUID, pathlib.PurePath, complex)):
        return str(value)
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": _to_str(value)}
    return _NO_MATCH


def _convert_container(value: Any, active: Set[int], depth: int) -> Any:
    deeper = depth + 1
    if isinstance(value, Mapping):
        return {_key(k): _convert(v, active, deeper) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert(item, active, deeper) for item in value]
    if isinstance(value, (set, frozenset)):
        return [_convert(item, active, deeper) for item in _sorted_if_possible(value)]

    numpy_value = _from_numpy(value)
    if numpy_value is not _NO_MATCH:
        return _convert(numpy_value, active, deeper)
    pandas_value = _from_pandas(value)
    if pandas_value is not _NO_MATCH:
        return _convert(pandas_value, active, deeper)

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _convert(fields, active, deeper)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, _CALLABLE_TYPES):
        try:
            return _convert(to_dict(), active, deeper)
        except Exception:  # a broken to_dict() must not break the response
            pass
    if isinstance(value, Iterable) and not isinstance(value, _CALLABLE_TYPES):
        try:
            return [_convert(item, active, deeper) for item in value]
        except Exception:
            return _to_str(value)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and not isinstance(value, _CALLABLE_TYPES):
        public = {k: v for k, v in attributes.items() if not str(k).startswith("_")}
        return _convert(public, active, deeper)
    return _to_str(value)


def _key(key: Any) -> str:
    """A dict key as ``json`` would write it, or its converted/str() form."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        return json.dumps(float(key))  # 'NaN' / 'Infinity' like json's own key handling
    converted = _convert_special(key)
    if isinstance(converted, str):
        return converted
    numpy_key = _from_numpy(key)
    if numpy_key is not _NO_MATCH and not isinstance(numpy_key, (list, dict)):
        return _key(numpy_key)
    return _to_str(key)


def _sorted_if_possible(items: Iterable[Any]) -> Iterable[Any]:
    try:
        return sorted(items)
    except Exception:
        return items


def _to_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return "<unserializable {}>".format(type(value).__name__)


def _from_numpy(value: Any) -> Any:
    """Python equivalent of a numpy value, or ``_NO_MATCH``. numpy is never imported here."""
    np = sys.modules.get("numpy")
    if np is None:
        return _NO_MATCH
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return _NO_MATCH


def _from_pandas(value: Any) -> Any:
    """Plain structure for a pandas object, or ``_NO_MATCH``. pandas is never imported here."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return _NO_MATCH
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if isinstance(value, pd.Series):
        return value.to_dict()
    if isinstance(value, pd.Index):
        return value.tolist()
    return _NO_MATCH


def _is_pandas_missing(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    return value is pd.NaT or value is getattr(pd, "NA", _NO_MATCH)
