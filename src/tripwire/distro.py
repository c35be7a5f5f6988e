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

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from tripwire import sampling
from tripwire._compat import OTelSDKConfigurator, sdk_supports_export_processor
from tripwire.coexistence import (
    DISTRO_DEFAULTS,
    keep_one_instrumentor_per_library,
    prefers_ours,
)
from tripwire.pipeline import (
    BoundedShutdownBatchSpanProcessor,
    distro_resource_attributes,
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
        kwargs["resource_attributes"] = distro_resource_attributes(
            kwargs.get("resource_attributes"))
        _keep_one_instrumentor_per_library()
        try:  # OTEL_TRACES_SAMPLER's sampler; the GenAI spans it drops still enriched
            kwargs["sampler"] = sampling.wrap(kwargs.get("sampler")
                                              or sampling.environment_sampler())
        except Exception:
            logger.exception("tripwire: wrapping the sampler failed; the SDK's is used")
        if sdk_supports_export_processor():
            kwargs.setdefault("export_span_processor", enriching_batch_processor)
        else:
            logger.error("tripwire: span enrichment needs opentelemetry-sdk >= 1.40 "
                         "(export_span_processor); spans are exported without enrichment")
        super()._configure(**kwargs)


def _keep_one_instrumentor_per_library() -> None:
    """Before ``opentelemetry-instrument`` loads instrumentors: one per library
    (:mod:`tripwire.coexistence`)."""
    try:
        # Read alone (the settings are installed, and their errors logged, once, later).
        keep_one_instrumentor_per_library(prefers_ours(os.environ))
    except Exception:  # never keep the application from starting
        logger.exception("tripwire: checking for other GenAI instrumentors failed")


class TripwireDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        _keep_one_instrumentor_per_library()
        for name, value in DISTRO_DEFAULTS.items():
            os.environ.setdefault(name, value)


__all__ = ["BoundedShutdownBatchSpanProcessor", "TripwireConfigurator", "TripwireDistro",
           "enriching_batch_processor", "install_settings_leniently"]
