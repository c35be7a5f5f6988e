"""Reading SDK request/response shapes uniformly: dicts, pydantic models, sentinels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tripwire._compat import STAINLESS_SENTINEL_TYPES

_SENTINELS = STAINLESS_SENTINEL_TYPES
# Types that are never a sentinel: skip the name check for them (the hot path).
_PLAIN = frozenset({str, int, float, bool, list, tuple, dict})
# type -> is it a Mapping (an ABC check is slow, and fixed per type); bounded.
_mapping_types: dict[type, bool] = {dict: True}


def given(value: Any) -> bool:
    """False for None and for SDK 'not given' sentinels (NOT_GIVEN, omit)."""
    if value is None:
        return False
    cls = type(value)
    return cls in _PLAIN or cls.__name__ not in _SENTINELS


def is_mapping(obj: Any) -> bool:
    """``isinstance(obj, Mapping)``, decided once per type."""
    cls = type(obj)
    known = _mapping_types.get(cls)
    if known is None:
        known = isinstance(obj, Mapping)
        if len(_mapping_types) < 512:
            _mapping_types[cls] = known
    return known


def get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; sentinels read as ``default``."""
    if obj is None:
        return default
    known = _mapping_types.get(type(obj))  # dicts and SDK models: known after the first
    if known is None:
        known = is_mapping(obj)
    value = obj.get(key, default) if known else getattr(obj, key, default)
    if value is None:
        return default
    cls = type(value)
    return value if cls in _PLAIN or cls.__name__ not in _SENTINELS else default


def put(attrs: dict[str, Any], key: str, value: Any) -> None:
    """Set ``attrs[key]`` only for a value the caller actually sent."""
    if given(value):
        attrs[key] = value


def put_number(attrs: dict[str, Any], key: str, value: Any) -> None:
    if given(value) and isinstance(value, (int, float)) and not isinstance(value, bool):
        attrs[key] = value


def string_list(value: Any) -> list[str] | None:
    if not given(value):
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None


def server_address_port(url: Any) -> tuple[str | None, int | None]:
    """Host and port from a base URL (str, httpx URL or anything with str())."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return None, None
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    return host, port


def sequence(value: Any) -> list[Any]:
    """``value`` as a list when it is a list or tuple, else empty. SDKs take any iterable:
    a generator must reach the SDK unconsumed, so it is sent as is and not described."""
    return list(value) if isinstance(value, (list, tuple)) else []


# No single call reads or writes this many tokens (the largest context windows are a few
# million): a count beyond it is an overflow or a hostile answer, not usage.
MAX_PLAUSIBLE_TOKENS = 1_000_000_000


def plausible_count(value: Any) -> int | None:
    """``value`` as a token count, or None when it cannot be one: not a number (or a bool),
    negative, not whole, or beyond :data:`MAX_PLAUSIBLE_TOKENS`."""
    if type(value) is int:  # the common case, checked first
        return value if 0 <= value <= MAX_PLAUSIBLE_TOKENS else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (0 <= value <= MAX_PLAUSIBLE_TOKENS) or value != int(value):
        return None  # NaN fails the range check
    return int(value)
