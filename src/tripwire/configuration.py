"""``tripwire.configure()``: validate and install settings, and put enrichment in the pipeline.

Three set-ups, one function::

    # 1. nothing set up yet: build providers from the standard OTEL_* variables
    #    (OTLP over HTTP/protobuf unless OTEL_TRACES_EXPORTER / _PROTOCOL say otherwise)
    tripwire.configure(budget_trace_usd=0.25)

    # 2. your own TracerProvider: give tripwire the export processors you would have added
    provider = TracerProvider(resource=...)
    tripwire.configure(tracer_provider=provider,
                       span_processors=[BatchSpanProcessor(OTLPSpanExporter())])

    # 3. your own TracerProvider, exporters from OTEL_* (as in 1) added to it
    tripwire.configure(tracer_provider=provider)

Settings are validated first: an invalid value raises ``tripwire.ConfigError`` naming the
setting and the accepted values, and nothing is changed. Calling ``configure()`` again only
updates the settings (the pipeline is built once per process).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from tripwire import sampling
from tripwire._compat import (
    exporter_names,
    import_exporters,
    initialize_components,
    sdk_supports_export_processor,
)
from tripwire.errors import ConfigError
from tripwire.pipeline import (
    BoundedShutdownBatchSpanProcessor,
    check_files,
    distro_resource_attributes,
    enriching_batch_processor,
)
from tripwire.processors.processor import EnrichingSpanProcessor
from tripwire.runtime import get_runtime, set_settings
from tripwire.settings import load_settings

logger = logging.getLogger("tripwire")
_lock = threading.Lock()


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    span_processors: Sequence[SpanProcessor] | None = None,
    **settings: Any,
) -> TracerProvider:
    """Install validated settings and make sure exported spans are enriched.

    ``tracer_provider``: an SDK provider to add enrichment to (default: the global one if it
    is an SDK provider, else a new one built from ``OTEL_*`` and set as global).
    ``span_processors``: the export processors to wrap (default: one ``BatchSpanProcessor``
    per exporter in ``OTEL_TRACES_EXPORTER``, OTLP/HTTP when unset).
    ``meter_provider``: for tripwire's metrics (default: the global one).
    ``**settings``: any tripwire setting by name (``budget_trace_usd=0.5``, ``prices_file=``…).
    Returns the tracer provider in use.
    """
    new_settings = check_files(load_settings(overrides=settings), strict=True)
    if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
        raise ConfigError("tracer_provider", type(tracer_provider).__name__,
                          "an opentelemetry.sdk.trace.TracerProvider")
    set_settings(new_settings)
    runtime = get_runtime()
    with _lock:
        configured = runtime.configured_provider
        if configured is not None and tracer_provider in (None, configured):
            if span_processors:
                _add(configured, span_processors, meter_provider)
            return configured  # type: ignore[no-any-return]
        provider = tracer_provider
        if provider is None:
            current = trace.get_tracer_provider()
            provider = current if isinstance(current, TracerProvider) else None
        if provider is None:
            provider = _build_from_environment(meter_provider, span_processors)
        else:
            _add(provider, span_processors or _processors_from_environment(), meter_provider)
            # Tracers made from now on see dropped GenAI spans end (tripwire's own
            # instrumentors account for theirs in any case): exports are unchanged.
            provider.sampler = sampling.wrap(provider.sampler)
        runtime.configured_provider = provider
        return provider


def _add(provider: TracerProvider, processors: Sequence[SpanProcessor],
         meter_provider: MeterProvider | None) -> None:
    for processor in processors:
        if isinstance(processor, EnrichingSpanProcessor):
            provider.add_span_processor(processor)
        else:
            provider.add_span_processor(
                EnrichingSpanProcessor(processor, meter_provider=meter_provider))


def _exporter_names() -> list[str]:
    """``OTEL_TRACES_EXPORTER`` resolved the SDK's way; OTLP/HTTP when unset."""
    if OTEL_TRACES_EXPORTER not in os.environ:
        return ["otlp_proto_http"]
    return exporter_names("traces")


def _processors_from_environment() -> list[SpanProcessor]:
    span_exporters, _, _ = import_exporters(_exporter_names(), [], [])
    return [BoundedShutdownBatchSpanProcessor(exporter()) for exporter in span_exporters.values()]


def _build_from_environment(meter_provider: MeterProvider | None,
                            span_processors: Sequence[SpanProcessor] | None) -> TracerProvider:
    """The SDK's own start-up (resource, sampler, exporters, metrics, logs from OTEL_*)."""
    kwargs: dict[str, Any] = {"resource_attributes": distro_resource_attributes()}
    if OTEL_METRICS_EXPORTER not in os.environ and meter_provider is None:
        kwargs["metric_exporter_names"] = ["otlp_proto_http"]
    if span_processors:
        kwargs["trace_exporter_names"] = []
    elif OTEL_TRACES_EXPORTER not in os.environ:
        kwargs["trace_exporter_names"] = ["otlp_proto_http"]
    if sdk_supports_export_processor():
        kwargs["export_span_processor"] = enriching_batch_processor
    else:
        logger.error("tripwire: span enrichment of OTEL_* exporters needs opentelemetry-sdk "
                     ">= 1.40; pass span_processors= to configure() instead")
    # OTEL_TRACES_SAMPLER's sampler, with the GenAI spans it drops still seen by enrichment.
    kwargs["sampler"] = sampling.from_environment()
    initialize_components(**kwargs)
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # another provider was already set
        raise ConfigError("tracer_provider", type(provider).__name__,
                          "an SDK TracerProvider (pass tracer_provider=)")
    if span_processors:
        _add(provider, span_processors, meter_provider)
    return provider


__all__ = ["configure"]
