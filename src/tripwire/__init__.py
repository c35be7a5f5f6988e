"""tripwire-otel: make the quiet failures of LLM applications loud in OpenTelemetry."""

from __future__ import annotations

from tripwire.budgets import budget
from tripwire.configuration import configure
from tripwire.decorators import retriever, tool, tool_call_context
from tripwire.errors import (
    BudgetExceededError,
    BudgetStoreUnavailableError,
    ConfigError,
    TripwireError,
)
from tripwire.version import __version__

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
