"""OpenTelemetry instrumentation for the ``openai`` SDK (and OpenAI-compatible endpoints).

Usage::

    from tripwire.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``chat.completions.create``/``parse``, ``responses.create``/``parse`` (and with them
the SDK's ``stream()`` helpers, which call ``create``), and ``embeddings.create`` — sync and
async, streaming and not — plus the SDK's own retries.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from tripwire._core.retries import hook_retries, unhook_retries
from tripwire._core.stream import close_proxied
from tripwire._core.telemetry import make_telemetry
from tripwire._core.wrapping import CallMapping, wrap_method
from tripwire.instrumentation.openai import chat, embeddings, responses
from tripwire.instrumentation.openai.package import _instruments

# (module, class, method, mapping) — missing ones (older SDKs) are skipped.
_TARGETS: tuple[tuple[str, str, str, CallMapping], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", chat.MAPPING),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", chat.MAPPING),
    ("openai.resources.chat.completions", "Completions", "parse", chat.PARSE_MAPPING),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", chat.PARSE_MAPPING),
    ("openai.resources.responses", "Responses", "create", responses.MAPPING),
    ("openai.resources.responses", "AsyncResponses", "create", responses.MAPPING),
    ("openai.resources.responses", "Responses", "parse", responses.PARSE_MAPPING),
    ("openai.resources.responses", "AsyncResponses", "parse", responses.PARSE_MAPPING),
    ("openai.resources.embeddings", "Embeddings", "create", embeddings.MAPPING),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", embeddings.MAPPING),
)
# The SDK's stream helpers close the HTTP response, not the stream we handed them; make
# their close() end our span too (their iteration already goes through our proxy).
_HELPER_STREAMS: tuple[tuple[str, str], ...] = (
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream"),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream"),
    ("openai.lib.streaming.responses._responses", "ResponseStream"),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream"),
)


def _resolve(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _helper_close(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        close_proxied(getattr(instance, "_raw_stream", None))


async def _helper_aclose(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        pending = close_proxied(getattr(instance, "_raw_stream", None))
        if pending is not None:
            await pending


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the ``openai`` SDK with GenAI semconv spans, metrics and tripwire flags."""

    def __init__(self) -> None:
        super().__init__()
        self._wrapped: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        telemetry = make_telemetry(
            __name__, kwargs.get("tracer_provider"), kwargs.get("meter_provider")
        )
        for module, class_name, method, mapping in _TARGETS:
            owner = _resolve(module, class_name)
            if owner is not None and hasattr(owner, method):
                wrap_method(owner, method, telemetry, mapping)
                self._wrapped.append((owner, method))
        for module, class_name in _HELPER_STREAMS:
            owner = _resolve(module, class_name)
            if owner is not None:
                is_async = class_name.startswith("Async")
                wrapt.wrap_function_wrapper(owner, "close",
                                            _helper_aclose if is_async else _helper_close)
                self._wrapped.append((owner, "close"))
        sync_client = _resolve("openai._base_client", "SyncAPIClient")
        async_client = _resolve("openai._base_client", "AsyncAPIClient")
        if sync_client is not None and async_client is not None:
            hook_retries(sync_client, async_client)
            self._retry_clients: tuple[Any, Any] | None = (sync_client, async_client)
        else:
            self._retry_clients = None

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in self._wrapped:
            unwrap(owner, method)
        self._wrapped.clear()
        if self._retry_clients is not None:
            unhook_retries(*self._retry_clients)
            self._retry_clients = None


__all__ = ["OpenAIInstrumentor"]
