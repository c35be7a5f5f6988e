"""Reading a wrapped call's arguments by parameter name, for operation mappings."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any


@functools.lru_cache(maxsize=512)
def _signature(fn: Callable[..., Any], method: bool) -> inspect.Signature | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if method:  # an unbound method: wrapt hands us the instance separately
        params = list(signature.parameters.values())[1:]
        signature = signature.replace(parameters=params)
    return signature


def bind_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
                   *, method: bool = False) -> dict[str, Any]:
    """The call's arguments by parameter name (``**kwargs`` parameters merged in).

    ``method``: ``fn`` is the function defined on a class and ``args`` exclude ``self``.
    """
    signature = _signature(fn, method)
    if signature is None:
        return dict(kwargs)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        if param.kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, dict):
            out.update(value)
        else:
            out[name] = value
    return out


def as_int(value: Any) -> int | None:
    """An integer argument (``top_k``, ``limit``), or None; booleans are not counts."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
