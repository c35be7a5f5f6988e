"""Span processors that enrich GenAI spans from any instrumentor (see docs/processors.md).

The package's names are loaded on first use: the runtime (:mod:`tripwire.runtime`) imports
the state, ledger, price and metric modules of this package, and the processor imports the
runtime, so importing one submodule must not import the processor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tripwire.processors.base import Enricher, Enrichment, SpanData
    from tripwire.processors.processor import EnrichingSpanProcessor, default_enrichers

_WHERE = {
    "Enricher": "tripwire.processors.base",
    "Enrichment": "tripwire.processors.base",
    "SpanData": "tripwire.processors.base",
    "EnrichingSpanProcessor": "tripwire.processors.processor",
    "default_enrichers": "tripwire.processors.processor",
}

__all__ = ["Enricher", "EnrichingSpanProcessor", "Enrichment", "SpanData", "default_enrichers"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
