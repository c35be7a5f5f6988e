"""Shapes shared by the Stainless-generated SDKs (``openai``, ``anthropic``).

``with_raw_response`` and ``with_streaming_response`` hand back wrappers around the HTTP
response instead of the parsed object. Reading them must not change what the application
sees, so only a body the SDK has already read is parsed (the SDK caches the parse).
"""

from __future__ import annotations

from typing import Any

from tripwire._compat import STAINLESS_RAW_RESPONSE_TYPES, helper_raw_stream
from tripwire._core.fields import given
from tripwire._core.stream import close_proxied

# LegacyAPIResponse (openai/anthropic 1.x ``with_raw_response``, body read);
# (Async)APIResponse (``with_raw_response`` with the body read, or ``with_streaming_response``
# with the body unread).
_RAW_TYPES = STAINLESS_RAW_RESPONSE_TYPES


def is_raw(result: Any) -> bool:
    return type(result).__name__ in _RAW_TYPES  # by name: hasattr() on pydantic is slow


def unwrap_raw(result: Any, stream: bool = False) -> Any:
    """The parsed object behind a raw-response wrapper; None when it cannot be read without
    changing what the application sees (an unread body, an async parse, a streamed body:
    ``stream``, the request asked for one — its events are the application's to read)."""
    name = type(result).__name__
    if name not in _RAW_TYPES:
        return result
    if stream:
        return None
    if name == "AsyncAPIResponse":
        return None  # parse() is a coroutine: nothing to await it in a sync step
    http_response = getattr(result, "http_response", None)
    if name == "APIResponse" and not getattr(http_response, "is_closed", False):
        return None  # with_streaming_response: the body is the application's to read
    return result.parse()


def is_stream_result(result: Any, request: Any) -> bool:
    """A requested stream, unless the SDK returned a raw wrapper (the app reads its events)."""
    return bool(request.stream) and not is_raw(result)


# The SDKs' stream helpers close the HTTP response, not the stream we handed them; these
# ``close`` hooks end our span too (their iteration already goes through our proxy).
def helper_close(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        close_proxied(helper_raw_stream(instance))


async def helper_aclose(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        pending = close_proxied(helper_raw_stream(instance))
        if pending is not None:
            await pending


def stream_requested(kwargs: dict[str, Any]) -> bool:
    """Whether a Stainless ``create()`` call asked for a stream (``stream=`` may be omitted,
    None or the SDK's not-given sentinel)."""
    value = kwargs.get("stream")
    return bool(value) if given(value) else False
