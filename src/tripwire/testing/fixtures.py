"""Pytest fixtures and assertion helpers for testing code instrumented with tripwire.

The fixtures are opt-in: enable the pytest plugin in your ``conftest.py`` with
``pytest_plugins = ["tripwire.testing.pytest_plugin"]`` (or ``-p tripwire.testing.pytest_plugin``
on the command line). Every fixture is named ``tripwire_…`` so that it never shadows a
fixture of your own; alias one in your ``conftest.py`` if you prefer a short name.

Fixtures build *local* SDK providers and never touch the global ones: pass them to the
instrumentor (``OpenAIInstrumentor().instrument(tracer_provider=..., meter_provider=...)``).

Imports of the OpenTelemetry SDK and of provider SDKs happen inside the fixtures so that
loading the plugin stays cheap and never fails when an optional SDK is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tripwire.testing.openai_server import FakeOpenAIServer

__all__ = [
    "find_span",
    "get_metric_points",
    "spans_by_name",
    "tripwire_fake_anthropic",
    "tripwire_fake_bedrock",
    "tripwire_fake_gemini",
    "tripwire_fake_openai",
    "tripwire_meter_provider",
    "tripwire_metric_reader",
    "tripwire_span_exporter",
    "tripwire_tracer_provider",
]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def tripwire_span_exporter() -> Iterator[InMemorySpanExporter]:
    """An in-memory span exporter; read finished spans with ``get_finished_spans()``."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def tripwire_tracer_provider(
    tripwire_span_exporter: InMemorySpanExporter,
) -> Iterator[TracerProvider]:
    """An SDK ``TracerProvider`` exporting synchronously to ``tripwire_span_exporter``.

    Not installed globally: pass it explicitly to the code under test.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    # Simple (synchronous) processor: a span is visible in the exporter as soon as it ends.
    provider.add_span_processor(SimpleSpanProcessor(tripwire_span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tripwire_metric_reader() -> Iterator[InMemoryMetricReader]:
    """An in-memory metric reader; use :func:`get_metric_points` to read it."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    yield InMemoryMetricReader()


@pytest.fixture
def tripwire_meter_provider(
    tripwire_metric_reader: InMemoryMetricReader,
) -> Iterator[MeterProvider]:
    """An SDK ``MeterProvider`` reading into ``tripwire_metric_reader`` (not installed globally)."""
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(metric_readers=[tripwire_metric_reader])
    yield provider
    provider.shutdown()


def _serve(module: str, name: str) -> Iterator[Any]:
    import importlib

    server = getattr(importlib.import_module(module), name)().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tripwire_fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started :class:`~tripwire.testing.openai_server.FakeOpenAIServer`, stopped after the test."""
    yield from _serve("tripwire.testing.openai_server", "FakeOpenAIServer")


@pytest.fixture
def tripwire_fake_anthropic() -> Iterator[Any]:
    """A started :class:`~tripwire.testing.anthropic_server.FakeAnthropicServer`."""
    yield from _serve("tripwire.testing.anthropic_server", "FakeAnthropicServer")


@pytest.fixture
def tripwire_fake_gemini() -> Iterator[Any]:
    """A started :class:`~tripwire.testing.gemini_server.FakeGeminiServer`."""
    yield from _serve("tripwire.testing.gemini_server", "FakeGeminiServer")


@pytest.fixture
def tripwire_fake_bedrock() -> Iterator[Any]:
    """A started :class:`~tripwire.testing.bedrock_server.FakeBedrockServer`."""
    yield from _serve("tripwire.testing.bedrock_server", "FakeBedrockServer")


# --- helpers -------------------------------------------------------------------------------


def get_metric_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """All data points of the metric ``name`` across resources and scopes.

    Collects from ``reader`` (cumulative temporality by default, so repeated calls see
    running totals). Returns ``[]`` when the metric was never recorded.
    """
    data = reader.get_metrics_data()
    points: list[Any] = []
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


def _finished(exporter: InMemorySpanExporter | Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    if isinstance(exporter, Sequence):
        return exporter
    return exporter.get_finished_spans()


def spans_by_name(
    exporter: InMemorySpanExporter | Sequence[ReadableSpan],
) -> dict[str, list[ReadableSpan]]:
    """Finished spans grouped by name, each list in the order the spans ended."""
    grouped: dict[str, list[ReadableSpan]] = {}
    for span in _finished(exporter):
        grouped.setdefault(span.name, []).append(span)
    return grouped


def find_span(exporter: InMemorySpanExporter | Sequence[ReadableSpan], name: str) -> ReadableSpan:
    """The one finished span called ``name``.

    Raises ``AssertionError`` (listing the names that do exist) when there is no such span
    or more than one; use :func:`spans_by_name` when several are expected.
    """
    spans = _finished(exporter)
    matches = [span for span in spans if span.name == name]
    if len(matches) != 1:
        names = sorted({span.name for span in spans})
        raise AssertionError(
            f"expected exactly one span named {name!r}, found {len(matches)}; "
            f"finished spans: {names}"
        )
    return matches[0]
