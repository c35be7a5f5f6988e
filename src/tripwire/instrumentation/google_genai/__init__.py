"""OpenTelemetry instrumentation for the Google Gen AI SDK (``google-genai``).

Usage::

    from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
    GoogleGenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``models.generate_content`` / ``generate_content_stream`` / ``embed_content`` on
the sync client and on ``client.aio`` (and with them ``chats``, which call them), in Gemini
Developer API and Vertex AI mode. See docs/google-genai.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire import semconv
from tripwire._compat import (
    GENAI_ATTEMPT_CLASS,
    GENAI_ATTEMPT_METHODS,
    GENAI_ATTEMPT_MODULE,
    GENAI_HOP_METHOD,
)
from tripwire._core.guard import guard
from tripwire._core.instrumentor import (
    Target,
    TripwireInstrumentor,
    Wrapped,
    hook_method,
    resolve,
)
from tripwire._core.invocation import LLMCall, current_call
from tripwire.instrumentation.google_genai import embeddings, generate
from tripwire.instrumentation.google_genai.package import _instruments

_MODULE = "google.genai.models"
# (class, method, mapping) — missing ones (older SDKs) are skipped.
_TARGETS: tuple[Target, ...] = (
    (_MODULE, "Models", "generate_content", generate.MAPPING),
    (_MODULE, "AsyncModels", "generate_content", generate.MAPPING),
    (_MODULE, "Models", "generate_content_stream", generate.STREAM_MAPPING),
    (_MODULE, "AsyncModels", "generate_content_stream", generate.STREAM_MAPPING),
    (_MODULE, "Models", "embed_content", embeddings.MAPPING),
    (_MODULE, "AsyncModels", "embed_content", embeddings.MAPPING),
)

# The private method behind every HTTP request of generate_content: automatic function
# calling and automatic continuation call it several times inside one public call.
_HOP_METHOD = GENAI_HOP_METHOD
# One HTTP attempt; the SDK's retry loop (tenacity, with HttpOptions.retry_options) calls it
# once per attempt, so an attempt after a failed one is a retry.
_ATTEMPT_MODULE = GENAI_ATTEMPT_MODULE
_ATTEMPT_METHODS = GENAI_ATTEMPT_METHODS


def _note_hop(response: Any) -> None:
    call = current_call()
    if call is not None:
        generate.record_hop(call.request, response)


_PROVIDERS = (semconv.PROVIDER_GCP_GEMINI, semconv.PROVIDER_GCP_VERTEX_AI)


def _our_call() -> LLMCall | None:
    """The google-genai call (generate or embed) whose request is running, if any."""
    call = current_call()
    return call if call is not None and call.request.provider in _PROVIDERS else None


def _attempt_starts() -> LLMCall | None:
    call = _our_call()
    if call is not None:
        call.attempt_started()
    return call


def _attempt_failed(call: LLMCall, exc: BaseException) -> None:
    code = getattr(exc, "code", None)
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    call.attempt_failed(status, None if status is not None else call.error_type_of(exc))


def _attempt_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call = None
    with guard("gemini retry event"):
        call = _attempt_starts()
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        if call is not None:
            with guard("gemini retry event"):
                _attempt_failed(call, exc)
        raise


async def _async_attempt_hook(wrapped: Callable[..., Any], instance: Any, args: Any,
                              kwargs: Any) -> Any:
    call = None
    with guard("gemini retry event"):
        call = _attempt_starts()
    try:
        return await wrapped(*args, **kwargs)
    except Exception as exc:
        if call is not None:
            with guard("gemini retry event"):
                _attempt_failed(call, exc)
        raise


def _hop_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    with guard("gemini hop usage"):
        _note_hop(response)
    return response


async def _async_hop_hook(wrapped: Callable[..., Any], instance: Any, args: Any,
                          kwargs: Any) -> Any:
    response = await wrapped(*args, **kwargs)
    with guard("gemini hop usage"):
        _note_hop(response)
    return response


class GoogleGenAIInstrumentor(TripwireInstrumentor):
    """Instruments ``google-genai`` with GenAI semconv spans, metrics and tripwire flags."""

    instruments = _instruments
    targets = _TARGETS

    def _wrap(self, **kwargs: Any) -> Wrapped:
        wrapped = super()._wrap(**kwargs)
        for class_name in ("Models", "AsyncModels"):
            owner = resolve(_MODULE, class_name)
            if hook_method(owner, _HOP_METHOD, _hop_hook, _async_hop_hook):
                wrapped.append((owner, _HOP_METHOD))
        api_client = resolve(_ATTEMPT_MODULE, GENAI_ATTEMPT_CLASS)
        for name in _ATTEMPT_METHODS:
            if hook_method(api_client, name, _attempt_hook, _async_attempt_hook):
                wrapped.append((api_client, name))
        return wrapped


__all__ = ["GoogleGenAIInstrumentor"]
