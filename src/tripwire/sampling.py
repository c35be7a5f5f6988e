"""A sampler wrapper that keeps GenAI spans visible to the enrichment processor.

A head sampler that drops a span (``traceidratio``, ``always_off``, a parent that was not
sampled) makes the SDK hand out a non-recording span: no processor ever sees it, so its cost,
refusal and budget spending would be lost. tripwire's own instrumentors account for their
dropped spans themselves (:mod:`tripwire._core.accounting`); spans of other instrumentors
need this wrapper::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
    from tripwire.sampling import GenAIRecordingSampler

    provider = TracerProvider(sampler=GenAIRecordingSampler(TraceIdRatioBased(0.1)))

It asks the wrapped sampler first and keeps its answer, except that a span it drops which is
a GenAI operation (``gen_ai.operation.name``, ``gen_ai.provider.name`` or ``gen_ai.system``
among the attributes given at its start, as the semantic conventions ask instrumentors to
give them) is recorded but not sampled (``RECORD_ONLY``): processors see it end, exporters do
not export it. What is exported is exactly what the wrapped sampler chose.

``tripwire.configure()`` (when it builds the provider) and the zero-code configurator wrap
the sampler named by ``OTEL_TRACES_SAMPLER`` this way.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from tripwire import semconv

# Attributes that mark a GenAI span at its start (the last one: older conventions).
_GENAI_KEYS = (semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME,
               semconv.GEN_AI_SYSTEM)


class GenAIRecordingSampler(Sampler):
    """``delegate``'s decisions, with dropped GenAI spans recorded (not exported)."""

    def __init__(self, delegate: Sampler) -> None:
        if delegate is None:
            raise ValueError("GenAIRecordingSampler needs the sampler to wrap")
        self.delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.delegate.should_sample(parent_context, trace_id, name, kind, attributes,
                                             links, trace_state)
        if result.decision is Decision.DROP and attributes:
            for key in _GENAI_KEYS:
                if key in attributes:
                    # The span's attributes are the result's: a sampler that drops a span
                    # returns none, so the start attributes are passed on here.
                    kept = dict(attributes)
                    kept.update(result.attributes or {})
                    return SamplingResult(Decision.RECORD_ONLY, kept, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"GenAIRecordingSampler{{{self.delegate.get_description()}}}"


def wrap(sampler: Sampler) -> Sampler:
    """``sampler`` wrapped once (a wrapped one is returned as it is)."""
    return sampler if isinstance(sampler, GenAIRecordingSampler) else GenAIRecordingSampler(sampler)


def environment_sampler() -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` / ``_ARG`` name (entry points included, as the
    SDK's configurator resolves them; the SDK's default when unset)."""
    from tripwire._compat import environment_sampler as resolve

    return resolve()  # type: ignore[no-any-return]


def from_environment() -> Sampler:
    """:func:`environment_sampler`, wrapped."""
    return wrap(environment_sampler())


__all__ = ["GenAIRecordingSampler", "environment_sampler", "from_environment", "wrap"]
