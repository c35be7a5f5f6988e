"""Attribute value length limits for what enrichment adds after a span has ended.

The SDK truncates a span's own attributes and events to its ``SpanLimits``
(``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT``) when they
are set; the attributes and events an enricher adds to the rebuilt copy never pass through
that code, so the same limits are applied here (e.g. a feature name taken from baggage).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import Event, SpanLimits

from tripwire._compat import span_limits
from tripwire.processors.base import Enrichment


def _limits(span: Any, fallback: SpanLimits) -> Any:
    """The limits the SDK applied to this span's own attributes.

    An SDK ``Span`` carries its provider's limits. A ``ReadableSpan`` snapshot does not, so
    ``fallback`` applies: the limits from the same variables a ``TracerProvider`` reads
    (limits passed in code as ``SpanLimits(...)`` are not visible here), which the processor
    reads once when it is built (``SpanLimits()``), as a ``TracerProvider`` does.
    """
    limits = span_limits(span)
    if limits is not None:
        return limits
    return fallback


def _clamp_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value[:limit] if len(value) > limit else value
    if isinstance(value, (list, tuple)) and any(
            isinstance(v, str) and len(v) > limit for v in value):
        return type(value)(v[:limit] if isinstance(v, str) else v for v in value)
    return value


def _clamp(attributes: Any, limit: int) -> Any:
    """``attributes`` with long strings cut: the same mapping when nothing is over."""
    out = None
    for key, value in (attributes or {}).items():
        cut = _clamp_value(value, limit)
        if cut is not value:
            if out is None:
                out = dict(attributes)
            out[key] = cut
    return attributes if out is None else out


def clamp_to_limits(span: Any, added: Enrichment, fallback: SpanLimits) -> Enrichment:
    """``added`` with string values cut to the span's attribute value length limits
    (``added`` itself when no limit applies or nothing is over it, so the caller's merged
    copy stays valid). ``fallback``: see :func:`_limits`."""
    limits = _limits(span, fallback)
    span_limit = getattr(limits, "max_span_attribute_length", None)
    event_limit = getattr(limits, "max_attribute_length", None)
    if span_limit is None and event_limit is None:
        return added  # the default: unlimited, nothing to do
    attributes = _clamp(added.attributes, span_limit) if span_limit is not None \
        else added.attributes
    events = added.events
    if event_limit is not None and events:
        cut = [(e, _clamp(e.attributes, event_limit)) for e in events]
        if any(attrs is not e.attributes for e, attrs in cut):
            events = [e if attrs is e.attributes else Event(e.name, attrs, e.timestamp)
                      for e, attrs in cut]
    if attributes is added.attributes and events is added.events:
        return added
    return Enrichment(attributes, list(events))
