"""tripwire's wrappers on other libraries' methods: put on, recognised, and taken off
wherever they sit in a chain of wrappers.

Other instrumentors wrap the same SDK methods (the official ``openai-v2`` one wraps
``Completions.create`` too), each with wrapt on the attribute as it finds it, so wrappers
stack: the attribute is the last one applied, its ``__wrapped__`` the one before, and so on.
``opentelemetry.instrumentation.utils.unwrap`` puts back the top one's ``__wrapped__``,
whoever's it is: used by tripwire it removed the other instrumentor's wrapper and left ours.
Here uninstrument finds *our* wrapper in the chain and splices it out — the wrapper above it
is re-pointed at what ours wrapped — and every other wrapper stays, working.

Ours are recognised by identity (a registry of the wrapper objects tripwire made), not by a
marker attribute or a subclass: a proxy forwards attribute reads, ``isinstance``, hashing
and equality to what it wraps (a foreign wrapper above ours would look like ours), and a
``FunctionWrapper`` subclass makes every call through it slower.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import wrapt

logger = logging.getLogger("tripwire")

try:  # wrapt 2: FunctionWrapper derives from BaseObjectProxy, not from ObjectProxy
    from wrapt import BaseObjectProxy as _Proxy
except ImportError:  # wrapt 1.x
    from wrapt import ObjectProxy as _Proxy

_BoundFunctionWrapper: type = wrapt.BoundFunctionWrapper
# A chain deeper than this is not a chain of method wrappers (a proxy of itself, a cycle).
_MAX_DEPTH = 64

_ours: dict[int, Any] = {}  # id -> our wrapper object (kept alive while it is installed)
_lock = threading.Lock()


def adopt(wrapper: Any) -> Any:
    """Record ``wrapper`` (a wrapt proxy tripwire made and installed) as ours; returns it."""
    with _lock:
        _ours[id(wrapper)] = wrapper
    return wrapper


def _forget(wrapper: Any) -> None:
    with _lock:
        if _ours.get(id(wrapper)) is wrapper:
            del _ours[id(wrapper)]


def is_ours(obj: Any) -> bool:
    """Whether ``obj`` is a wrapper tripwire installed and has not removed."""
    return _ours.get(id(obj)) is obj


def _is_proxy(obj: Any) -> bool:
    return issubclass(type(obj), _Proxy)  # type(), not isinstance(): proxies fake __class__


def _raw(node: Any) -> Any:
    """The ``FunctionWrapper`` behind a ``BoundFunctionWrapper`` that stands in a class's
    ``__dict__``: ``utils.unwrap`` reads the attribute with ``getattr(cls, name)``, which binds
    the wrapper below (instance None), and puts that bound wrapper back on the class."""
    if issubclass(type(node), _BoundFunctionWrapper):
        parent = node._self_parent
        if parent is not None:
            return parent
    return node


def _find(owner: Any, name: str) -> tuple[Any, Any, Any, Any] | None:
    """Our wrapper in the chain on ``owner.name`` (the attribute ``owner`` itself defines):
    (what the class holds, the first wrapper, the wrapper above ours or None, ours); None when
    there is none of ours — also when an odd proxy in the chain (not initialised, raising on
    access) cannot be walked."""
    try:
        top = vars(owner).get(name)
        above = None
        node = first = _raw(top)
        for _ in range(_MAX_DEPTH):
            if is_ours(node):
                return top, first, above, node
            inner = _wrapped_by(node)  # through plain decorators too
            if inner is None:
                return None
            above = node
            node = _raw(inner)
    except Exception:
        return None
    return None


def ours_at(owner: Any, name: str) -> Any:
    """Our wrapper on ``owner.name``, wherever it sits in the chain of wrappers; None when
    there is none."""
    found = _find(owner, name)
    return found[3] if found is not None else None


def _wrapped_by(node: Any) -> Any:
    """What ``node`` wraps: a wrapt proxy's target, or the ``__wrapped__`` a plain decorator
    (``functools.wraps``) names; None for anything else."""
    return node.__wrapped__ if _is_proxy(node) else getattr(node, "__wrapped__", None)


def wrap_function(owner: Any, name: str, wrapper: Callable[..., Any]) -> Any:
    """``wrapt.wrap_function_wrapper(owner, name, wrapper)``, recorded as ours. A method that
    already carries a tripwire wrapper is not wrapped again (one call, one span): that
    wrapper is returned."""
    existing = ours_at(owner, name)
    if existing is not None:
        return existing
    return adopt(wrapt.wrap_function_wrapper(owner, name, wrapper))


def unwrap(owner: Any, name: str) -> bool:
    """Take our wrapper off ``owner.name``, leaving every other wrapper of the chain in place
    (the one above ours now wraps what ours wrapped); False when there is none of ours, or
    when the wrapper above ours cannot be re-pointed (logged: ours then stays)."""
    found = _find(owner, name)
    if found is None:
        return False
    top, first, above, node = found
    inner = node.__wrapped__
    if above is None:
        setattr(owner, name, inner)
    else:
        try:
            if not _is_proxy(above):
                raise TypeError("not a wrapt proxy")
            above.__wrapped__ = inner
        except Exception:  # a decorator's closure, or a proxy that keeps its target
            logger.warning("tripwire: could not take its wrapper off %s.%s: the wrapper above "
                           "it (%s) cannot be re-pointed; uninstrument that one first",
                           getattr(owner, "__name__", owner), name, type(above).__name__)
            return False
        if above is first and top is not first:
            setattr(owner, name, first)  # the class held a bound stand-in of that wrapper
    _forget(node)
    return True


__all__ = ["adopt", "is_ours", "ours_at", "unwrap", "wrap_function"]
