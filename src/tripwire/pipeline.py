"""The export side of the pipeline, shared by ``tripwire.configure()`` and the zero-code
configurator: an enriching, batching export processor per exporter, and settings installed
with their files checked.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from tripwire import semconv
from tripwire._compat import (
    exporter_timeout,
    shutdown_batch_worker,
)
from tripwire.budgets import load_budgets_file
from tripwire.coexistence import DISTRIBUTION
from tripwire.errors import ConfigError
from tripwire.processors.prices import load_overlay
from tripwire.processors.processor import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings, load_settings, log_errors
from tripwire.version import __version__


def exporter_timeout_seconds(exporter: SpanExporter) -> float:
    """How long one export may take: the exporter's own timeout, else
    ``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`` (seconds, as the Python OTLP exporters read it),
    else their default of 10 s."""
    own = exporter_timeout(exporter)
    if own is not None:
        return own
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
        if not shutdown_batch_worker(self, self.shutdown_timeout_millis):
            super().shutdown()  # an SDK without the bounded join


def enriching_batch_processor(exporter: SpanExporter, *args: Any, **kwargs: Any) -> SpanProcessor:
    """The export processor the SDK configurator builds for each exporter: enrich, then batch."""
    return EnrichingSpanProcessor(BoundedShutdownBatchSpanProcessor(exporter, *args, **kwargs))


def distro_resource_attributes(attributes: Any = None) -> dict[str, Any]:
    """``attributes`` plus the resource attributes saying tripwire set the SDK up
    (``telemetry.distro.name`` / ``.version``), for the SDK's ``resource_attributes``."""
    merged = dict(attributes or {})
    merged.setdefault(semconv.TELEMETRY_DISTRO_NAME, DISTRIBUTION)
    merged.setdefault(semconv.TELEMETRY_DISTRO_VERSION, __version__)
    return merged


def file_errors(settings: Settings) -> dict[str, ConfigError]:
    """The prices and budgets files the settings name, loaded as they will be used: the
    error of each one that cannot be, by setting name."""
    errors: dict[str, ConfigError] = {}
    for name, loader in (("prices_file", load_overlay), ("budgets_file", load_budgets_file)):
        path = getattr(settings, name)
        if path:
            try:
                loader(path)
            except ConfigError as exc:
                errors[name] = exc
    return errors


def check_files(settings: Settings, *, strict: bool) -> Settings:
    """Validate the prices and budgets files. Lenient: log, drop only the bad file's
    setting (its feature stays off), install."""
    errors = file_errors(settings)
    if errors and strict:
        raise next(iter(errors.values()))
    log_errors(list(errors.values()))
    changes: dict[str, Any] = dict.fromkeys(errors)
    if changes:
        settings = dataclasses.replace(settings, **changes)
    if not strict:
        set_settings(settings)
    return settings


def install_settings_leniently() -> None:
    """Read TRIPWIRE_* settings; log each invalid one at ERROR and keep its default."""
    errors: list[ConfigError] = []
    settings = load_settings(strict=False, errors=errors)
    log_errors(errors)
    check_files(settings, strict=False)
