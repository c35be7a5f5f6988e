"""Checks that run before an instrumented call is sent (budget enforcement lives here).

A check receives the request's :class:`PreCallInfo` and may raise
``tripwire.BudgetExceededError`` to stop the call before anything is sent. Any other
exception from a check is a tripwire bug: it is logged once and the call proceeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.context import Context

from tripwire._core.guard import log_failure
from tripwire.errors import BudgetExceededError


@dataclass(frozen=True)
class PreCallInfo:
    operation: str
    provider: str
    request_model: str | None
    context: Context  # the context the call's span will start in (parent, baggage)


PreCallCheck = Callable[[PreCallInfo], None]
_checks: list[PreCallCheck] = []


def register_precall_check(check: PreCallCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def unregister_precall_check(check: PreCallCheck) -> None:
    if check in _checks:
        _checks.remove(check)


def run_precall_checks(info: PreCallInfo) -> None:
    for check in _checks:
        try:
            check(info)
        except BudgetExceededError:
            raise
        except Exception:
            log_failure("precall check")


def has_precall_checks() -> bool:
    return bool(_checks)
