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
    if known:
        value = obj.get(key, default)
    elif type(obj) in _PLAIN:
        # A number, text or list where an object belongs (a hostile or broken answer): it
        # has no fields — getattr would hand back its methods (``"x".index``).
        return default
    else:
        value = getattr(obj, key, default)
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


_SCALARS = (str, bool, int, float, bytes)


def _safe_scalar(value: Any) -> Any:
    """A scalar made encodable, or ``_DROP`` when it cannot be (out of int64, not finite, not
    a type an attribute can have)."""
    kind = type(value)
    if kind is str:
        return safe_text(value)
    if kind is bool or kind is bytes:
        return value
    if kind is int:
        return value if -_INT64 <= value < _INT64 else _DROP
    if kind is float:
        return value if value - value == 0 else _DROP  # NaN and ±inf fail this
    # Subclasses (str and int enums) are valid attribute values; anything else (an object, a
    # dict, the INVALID marker) is not, and is flagged rather than left to the SDK to drop.
    return value if isinstance(value, _SCALARS) else _DROP


def _safe_value(value: Any) -> Any:
    """``value`` made encodable, or ``_DROP`` when it cannot be. Sequences are walked one
    level only (an attribute is never nested) and must hold one type, as OTLP requires."""
    if type(value) not in (list, tuple):
        return _safe_scalar(value)
    items = []
    first: type | None = None  # the one type the items may have (no set per list)
    for item in value:
        if item is not None:
            if type(item) in (list, tuple, dict):
                return _DROP
            item = _safe_scalar(item)
            if item is _DROP:
                return _DROP
            kind = bool if type(item) is bool else str if isinstance(item, str) else type(item)
            if first is None:
                first = kind
            elif kind is not first:
                return _DROP
        items.append(item)
    return tuple(items)


_DROP = object()


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


# A response field that was there but unusable (a number for a model name): an attribute
# set to this is dropped by :func:`safe_attributes` and listed in tripwire.invalid_attributes.
INVALID: Any = _Invalid()


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string (made encodable), else None."""
    if type(value) is str or isinstance(value, str):
        return safe_text(str.__str__(value)) if value else None
    return None


def text_or_invalid(value: Any) -> Any:
    """A response's text field for an attribute: the text, None when absent or empty,
    :data:`INVALID` when something else stands there."""
    if value is None or value == "":
        return None
    return text(value) or INVALID


def put_text(attrs: dict[str, Any], key: str, value: Any) -> str | None:
    """Set ``attrs[key]`` from a response's text field (see :func:`text_or_invalid`);
    return the text, or None."""
    checked = text_or_invalid(value)
    if checked is not None:
        attrs[key] = checked
    return None if checked is INVALID else checked


def text_list(values: Any) -> Any:
    """A list attribute of texts (finish reasons): the texts made encodable, or
    :data:`INVALID` when one is something else."""
    out = [text(value) for value in items(values)]
    return INVALID if not out or None in out else out


def items(value: Any) -> list[Any] | tuple[Any, ...]:
    """``value`` when it is a list or tuple, else empty: a number, text or object where a
    provider's list belongs costs only that list."""
    return value if type(value) in (list, tuple) else ()


def index(value: Any, default: int = 0) -> int:
    """A list index from a response (``choices[].index``): a small non-negative int, else
    ``default`` (mixed keys would make the choices unsortable)."""
    if type(value) is int and 0 <= value < 1 << 16:
        return value
    return default


# How deep tripwire walks a structure it did not build (provider JSON, tool arguments): far
# beyond real messages and schemas, far below the interpreter's recursion limit. Deeper
# parts are replaced by :data:`TOO_DEEP` (content) or make the value invalid (tool calls).
MAX_DEPTH = 64
TOO_DEEP = "…[too deep]"


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests dicts/lists more than ``limit`` levels (iterative: no
    recursion however deep it goes)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, (list, tuple)):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def safe_attributes(attributes: dict[str, Any]) -> list[str]:
    """Make every key and value of ``attributes`` encodable in place; drop what cannot be
    (returned, to be flagged). Every span's attributes pass here: the common case — ASCII
    keys and strings, small ints, finite floats, bools — is one pass of type checks, and only
    the other entries are looked at further."""
    others: list[str] | None = None
    for key, value in attributes.items():
        kind = type(value)
        if ((kind is str and value.isascii()) or kind is bool
                or (kind is int and -_INT64 <= value < _INT64)
                or (kind is float and value - value == 0)) and key.isascii():
            continue
        if others is None:
            others = []
        others.append(key)
    if others is None:
        return []
    dropped: list[str] = []
    for key in others:
        value = attributes[key]
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
