"""Guards: telemetry failures are logged once per step and never reach the application."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("tripwire")

_seen: set[str] = set()
_seen_lock = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


def log_failure(step: str) -> None:
    """Log the current exception once per ``step`` (later repeats go to DEBUG)."""
    with _seen_lock:
        first = step not in _seen
        if first:
            _seen.add(step)
    if first:
        logger.warning("tripwire: telemetry step %r failed; the application is unaffected",
                       step, exc_info=True)
    else:
        logger.debug("tripwire: telemetry step %r failed again", step, exc_info=True)


def reset_failure_log() -> None:
    with _seen_lock:
        _seen.clear()


class guard:  # used as a function: ``with guard("step"):``
    """Run a telemetry step; swallow and log whatever it raises (``Exception`` only).

    A plain class rather than ``@contextmanager``: it runs several times per LLM call.
    """

    __slots__ = ("step",)

    def __init__(self, step: str) -> None:
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        log_failure(self.step)
        return True


def guarded(step: str, default: Any = None) -> Callable[[F], F]:
    """Decorator form of :func:`guard` returning ``default`` on failure."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:
                log_failure(step)
                return default

        return wrapper  # type: ignore[return-value]

    return decorate
