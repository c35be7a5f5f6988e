"""Zero-code set-up: ``opentelemetry-instrument python app.py`` exports enriched spans.

- :class:`TripwireDistro` (entry point ``opentelemetry_distro`` = ``tripwire``) sets the same
  defaults as the official ``opentelemetry-distro`` — traces and metrics exported over OTLP —
  but over HTTP/protobuf, the exporter tripwire depends on (the gRPC one is an extra).
- :class:`TripwireConfigurator` (entry point ``opentelemetry_configurator`` = ``tripwire``)
  builds the providers from the standard ``OTEL_*`` variables with the SDK's own configurator
  and puts an :class:`~tripwire.processors.EnrichingSpanProcessor` in front of each exporting
  ``BatchSpanProcessor``. Invalid ``TRIPWIRE_*`` settings are logged at ERROR and keep their
  defaults (that feature stays off); the application always starts.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _initialize_components, _OTelSDKConfigurator
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_PROTOCOL
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger("tripwire")


def exporter_timeout_seconds(exporter: SpanExporter) -> float:
    """How long one export may take: the exporter's own timeout (the OTLP exporters keep it in
    ``_timeout`` or ``_client._timeout``), else ``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT``
    (seconds, as the Python OTLP exporters read it), else their default of 10 s."""
    for owner in (exporter, getattr(exporter, "_client", None)):
        value = getattr(owner, "_timeout", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        try:
            value = float(os.environ.get(name, ""))
        except ValueError:
            continue
        if value > 0:
            return value
    return 10.0


class BoundedShutdownBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose ``shutdown()`` waits at most one export timeout.

    The SDK's ``BatchSpanProcessor.shutdown()`` waits up to 30 s for its worker to export
    every queued batch, each batch up to the exporter's timeout: with a collector that
    accepts connections and never answers, an application's exit (``atexit``) hangs for 30 s.
    Here the final flush gets the exporter's timeout; what is left is dropped, as on any
    export failure. Against a healthy collector nothing changes.
    """

    def __init__(self, span_exporter: SpanExporter, *args: Any,
                 shutdown_timeout_millis: float | None = None, **kwargs: Any) -> None:
        super().__init__(span_exporter, *args, **kwargs)
        self.shutdown_timeout_millis = (
            shutdown_timeout_millis if shutdown_timeout_millis is not None
            else exporter_timeout_seconds(span_exporter) * 1000.0
        )

    def shutdown(self) -> None:
        inner = getattr(self, "_batch_processor", None)
        if inner is None or "timeout_millis" not in inspect.signature(inner.shutdown).parameters:
            super().shutdown()  # an SDK without the bounded join
            return
        inner.shutdown(timeout_millis=self.shutdown_timeout_millis)


def enriching_batch_processor(exporter: SpanExporter, *args: Any, **kwargs: Any) -> SpanProcessor:
    """The export processor the SDK configurator builds for each exporter: enrich, then batch."""
    from tripwire.processors import EnrichingSpanProcessor

    return EnrichingSpanProcessor(BoundedShutdownBatchSpanProcessor(exporter, *args, **kwargs))


def sdk_supports_export_processor() -> bool:
    """``export_span_processor`` arrived in opentelemetry-sdk 1.40."""
    return "export_span_processor" in inspect.signature(_initialize_components).parameters


def install_settings_leniently() -> None:
    """Read TRIPWIRE_* settings; log each invalid one at ERROR and keep its default."""
    from tripwire.configuration import check_files, settings_errors_logged

    settings = settings_errors_logged()
    check_files(settings, strict=False)


class TripwireConfigurator(_OTelSDKConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        try:
            install_settings_leniently()
        except Exception:  # never keep the application from starting
            logger.exception("tripwire: reading settings failed; defaults are used")
        if sdk_supports_export_processor():
            kwargs.setdefault("export_span_processor", enriching_batch_processor)
        else:
            logger.error("tripwire: span enrichment needs opentelemetry-sdk >= 1.40 "
                         "(export_span_processor); spans are exported without enrichment")
        super()._configure(**kwargs)


class TripwireDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(OTEL_TRACES_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf")


__all__ = ["BoundedShutdownBatchSpanProcessor", "TripwireConfigurator", "TripwireDistro",
           "enriching_batch_processor"]
