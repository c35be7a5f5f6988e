"""What the core tells the runtime before an instrumented call is sent.

The runtime's budget gate (:meth:`tripwire.runtime.Runtime.before_call`) receives the
request's :class:`PreCallInfo` and may raise ``tripwire.BudgetExceededError`` to stop the call
before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.context import Context


@dataclass(frozen=True)
class PreCallInfo:
    operation: str
    provider: str
    request_model: str | None
    context: Context  # the context the call's span will start in (parent, baggage)
