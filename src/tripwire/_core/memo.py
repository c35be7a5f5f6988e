"""Memos keyed by object identity: pure derivations, bounded, never state.

Apps pass the same tool definitions and schemas on every call; deriving from them (validators,
JSON schemas, flat prices) costs as much as using them, so the result is remembered per object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IdentityCache = dict[int, tuple[Any, Any]]
_IDENTITY_CACHE_MAX = 256


def by_identity(cache: IdentityCache, key: Any, build: Callable[[Any], Any]) -> Any:
    """``build(key)``, remembered per object. Bounded; the key object is kept referenced so
    that its id cannot be reused while cached (a definition mutated in place keeps its first
    result)."""
    cached = cache.get(id(key))
    if cached is not None and cached[0] is key:
        return cached[1]
    value = build(key)
    if len(cache) >= _IDENTITY_CACHE_MAX:
        cache.clear()
    cache[id(key)] = (key, value)
    return value
