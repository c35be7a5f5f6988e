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

import logging
import os
from typing import Any

from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_PROTOCOL

from tripwire._compat import OTelSDKConfigurator, sdk_supports_export_processor
from tripwire.pipeline import (
    BoundedShutdownBatchSpanProcessor,
    enriching_batch_processor,
    install_settings_leniently,
)

logger = logging.getLogger("tripwire")


class TripwireConfigurator(OTelSDKConfigurator):
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
           "enriching_batch_processor", "install_settings_leniently"]
