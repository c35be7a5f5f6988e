"""Span processors that enrich GenAI spans from any instrumentor (see docs/processors.md)."""

from __future__ import annotations

from tripwire.processors.base import Enricher, Enrichment, SpanData
from tripwire.processors.processor import EnrichingSpanProcessor, default_enrichers

__all__ = ["Enricher", "EnrichingSpanProcessor", "Enrichment", "SpanData", "default_enrichers"]
