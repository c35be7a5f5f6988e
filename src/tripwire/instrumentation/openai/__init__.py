"""OpenTelemetry instrumentation for the ``openai`` SDK (and OpenAI-compatible endpoints).

Usage::

    from tripwire.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``chat.completions.create``/``parse``, ``responses.create``/``parse`` (and with them
the SDK's ``stream()`` helpers, which call ``create``), and ``embeddings.create`` — sync and
async, streaming and not — plus the SDK's own retries.
"""

from __future__ import annotations

from typing import Any

from tripwire._compat import OPENAI_HELPER_STREAMS
from tripwire._core.instrumentor import Target, TripwireInstrumentor, Wrapped, resolve
from tripwire._core.patching import wrap_function
from tripwire._core.retries import hook_retries
from tripwire._core.stainless import helper_aclose, helper_close
from tripwire.instrumentation.openai import chat, embeddings, responses
from tripwire.instrumentation.openai.package import _instruments

# (module, class, method, mapping) — missing ones (older SDKs) are skipped.
_TARGETS: tuple[Target, ...] = (
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


class OpenAIInstrumentor(TripwireInstrumentor):
    """Instruments the ``openai`` SDK with GenAI semconv spans, metrics and tripwire flags."""

    instruments = _instruments
    targets = _TARGETS

    def _wrap(self, **kwargs: Any) -> Wrapped:
        wrapped = super()._wrap(**kwargs)
        # The SDK's stream helpers close the HTTP response, not the stream we handed them;
        # make their close() end our span too (their iteration already goes through our proxy).
        for module, class_name in OPENAI_HELPER_STREAMS:
            owner = resolve(module, class_name)
            if owner is not None:
                is_async = class_name.startswith("Async")
                wrap_function(owner, "close", helper_aclose if is_async else helper_close)
                wrapped.append((owner, "close"))
        wrapped += hook_retries("openai")
        return wrapped


__all__ = ["OpenAIInstrumentor"]
