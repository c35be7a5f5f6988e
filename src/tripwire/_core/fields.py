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


_INT64 = 2**63


def safe_text(text: str) -> str:
    """``text`` as OTLP can encode it: valid UTF-8 (a lone surrogate would fail the whole
    export batch), lone surrogates replaced."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _safe_value(value: Any) -> Any:
    """``value`` made encodable, or ``_DROP`` when it cannot be (out of int64, not finite)."""
    kind = type(value)
    if kind is str:
        return safe_text(value)
    if kind is bool:
        return value
    if kind is int:
        return value if -_INT64 <= value < _INT64 else _DROP
    if kind is float:
        return value if value - value == 0 else _DROP  # NaN and ±inf fail this
    if kind in (list, tuple):
        items = [_safe_value(item) for item in value]
        return _DROP if any(item is _DROP for item in items) else tuple(items)
    return value


_DROP = object()


def safe_attributes(attributes: dict[str, Any]) -> list[str]:
    """Make every key and value of ``attributes`` encodable in place; drop what cannot be
    (returned, to be flagged). The common case — ASCII strings, small ints — costs one type
    check per value."""
    dropped: list[str] = []
    for key in list(attributes):
        value = attributes[key]
        kind = type(value)
        if (kind is str and value.isascii()) or kind is bool or (
                kind is int and -_INT64 <= value < _INT64):
            safe = value
        else:
            safe = _safe_value(value)
        clean_key = safe_text(key)
        if safe is _DROP:
            del attributes[key]
            dropped.append(clean_key)
            continue
        if clean_key is not key:
            del attributes[key]
        if safe is not value or clean_key is not key:
            attributes[clean_key] = safe
    return dropped
