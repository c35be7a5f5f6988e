"""The base every tripwire instrumentor shares: wrap on instrument(), unwrap on uninstrument().

``BaseInstrumentor`` is a singleton whose ``__init__`` runs again on every construction, so
the record of what was wrapped lives outside ``__init__`` (a second ``XInstrumentor()``
must not forget what the first one wrapped).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from tripwire._core.guard import guard

Wrapped = list[tuple[Any, str]]


def resolve(modules: tuple[str, ...] | str, name: str) -> Any:
    """``name`` from the first of ``modules`` that has it; None when none does (another
    library version: the target is skipped)."""
    for module in (modules,) if isinstance(modules, str) else modules:
        try:
            return getattr(importlib.import_module(module), name)
        except Exception:
            continue
    return None


class TripwireInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses set ``instruments`` and implement :meth:`_wrap`."""

    instruments: tuple[str, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        """Wrap the library's methods; return every (owner, attribute) wrapped."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        self._wrapped = self._wrap(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name in self.__dict__.pop("_wrapped", []):
            with guard("uninstrument " + getattr(owner, "__name__", "?") + "." + name):
                unwrap(owner, name)
