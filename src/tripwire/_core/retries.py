"""Make the SDK's own retries visible on the call's span.

Stainless-generated SDKs (openai, anthropic) retry inside one ``create()`` call and call
``_sleep_for_retry`` once per failed attempt, while our span is current. Hooking it gives one
``tripwire.retry`` event per failed attempt with the status code (or the transport error).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tripwire._compat import STAINLESS_RETRY_METHOD, stainless_api_clients
from tripwire._core.guard import guard
from tripwire._core.instrumentor import hook_method
from tripwire._core.invocation import current_call

RETRY_METHOD = STAINLESS_RETRY_METHOD


def _note_retry(kwargs: dict[str, Any]) -> None:
    call = current_call()
    if call is None:
        return
    response = kwargs.get("response")
    status = getattr(response, "status_code", None) if response is not None else None
    error_type = None
    if status is None:
        exc = sys.exc_info()[1]  # called from inside the SDK's `except` block
        error_type = call.error_type_of(exc) if exc is not None else None
    call.record_retry(status, error_type)


def _sync_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    with guard("retry event"):
        _note_retry(kwargs)
    return wrapped(*args, **kwargs)


async def _async_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    with guard("retry event"):
        _note_retry(kwargs)
    return await wrapped(*args, **kwargs)


def hook_retries(package: str) -> list[tuple[Any, str]]:
    """Hook the retry loop of a Stainless SDK's base clients (``{package}._base_client``,
    sync and async); what was wrapped, for uninstrument()."""
    wrapped = []
    for owner in stainless_api_clients(package):
        if hook_method(owner, RETRY_METHOD, _sync_hook, _async_hook):
            wrapped.append((owner, RETRY_METHOD))
    return wrapped
