"""What the core tells the runtime before an instrumented call is sent.

The runtime's budget gate (:meth:`tripwire.runtime.Runtime.before_call`) receives the
request's :class:`PreCallInfo`, reserves the call's estimated cost, and may raise
``tripwire.BudgetExceededError`` to stop the call before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.context import Context


@dataclass(frozen=True)
class PreCallInfo:
    operation: str
    provider: str
    request_model: str | None
    context: Context  # the context the call's span will start in (parent, baggage)
    # The prompt's text (called only when a budget needs the call's cost estimated).
    prompt_text: Callable[[], str] | None = None
    max_output_tokens: int | None = None  # the request's output limit, when it sets one
