"""tripwire-otel: make the quiet failures of LLM applications loud in OpenTelemetry.

The public names below are imported on first use (PEP 562): ``configure`` and the
decorators bring in the OpenTelemetry SDK and the enrichment processor, which an
application that only imports an instrumentor (``tripwire.instrumentation.openai``) does not
need to load. ``from tripwire import configure`` and ``tripwire.configure`` work as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tripwire.errors import (
    BudgetExceededError,
    BudgetStoreUnavailableError,
    ConfigError,
    TripwireError,
)
from tripwire.version import __version__

if TYPE_CHECKING:
    from tripwire.budgets import budget
    from tripwire.configuration import configure
    from tripwire.decorators import retriever, tool, tool_call_context

# public name -> the module that defines it
_LAZY = {
    "budget": "tripwire.budgets",
    "configure": "tripwire.configuration",
    "retriever": "tripwire.decorators",
    "tool": "tripwire.decorators",
    "tool_call_context": "tripwire.decorators",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tripwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later reads are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BudgetExceededError",
    "BudgetStoreUnavailableError",
    "ConfigError",
    "TripwireError",
    "__version__",
    "budget",
    "configure",
    "retriever",
    "tool",
    "tool_call_context",
]
