"""Other GenAI instrumentors installed beside tripwire's, and which one records a call.

``opentelemetry-bootstrap -a install`` installs the official
``opentelemetry-instrumentation-openai-v2`` (and others) next to tripwire; OpenLLMetry and
OpenInference ship instrumentors for the same libraries. ``opentelemetry-instrument`` loads
every instrumentor it finds, so each call would be recorded twice: two spans, two sets of
``gen_ai.client.*`` points. Zero-code set-up (tripwire's distro and configurator) therefore
keeps one instrumentor per library, by ``TRIPWIRE_PREFERRED_INSTRUMENTOR``:

- ``tripwire`` (default): the other instrumentors of tripwire's libraries are added to
  ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``;
- ``other``: tripwire's instrumentor of each such library is disabled instead; the other
  one's spans are still enriched (cost, budgets, flags) by the processor.

Instrumentors that cover more than tripwire's libraries (``botocore``: every AWS service)
are never disabled; the processor's nesting rule counts such calls once
(``docs/processors.md``). Found through installed metadata only: nothing is imported.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from tripwire.settings import PreferredInstrumentor

logger = logging.getLogger("tripwire")

GROUP = "opentelemetry_instrumentor"
DISABLED_VARIABLE = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
PREFERRED_VARIABLE = "TRIPWIRE_PREFERRED_INSTRUMENTOR"
DISTRIBUTION = "tripwire-otel"
# What tripwire's distro sets unless the user did (read by `tripwire check` too).
DISTRO_DEFAULTS = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp",
                   "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}

# tripwire's entry point per instrumented library (distribution name, normalised); the
# instrumentors' package.py ``_instruments`` name the same libraries (tests check it).
OURS: dict[str, str] = {
    "openai": "tripwire_openai",
    "anthropic": "tripwire_anthropic",
    "google-genai": "tripwire_google_genai",
    "botocore": "tripwire_bedrock",
    "chromadb": "tripwire_chromadb",
    "qdrant-client": "tripwire_qdrant",
    "langchain-core": "tripwire_langchain",
    "mcp": "tripwire_mcp",
    "openai-agents": "tripwire_openai_agents",
    "langgraph": "tripwire_langgraph",
}
# A foreign instrumentor of these also records calls tripwire never instruments (botocore:
# S3, DynamoDB…): disabling it would lose them.
_BROADER = frozenset({"botocore", "boto3"})
# Entry point names other projects use, for distributions that declare no ``instruments``
# extra (OpenLLMetry, OpenInference, the official ones): name -> library.
_KNOWN_NAMES: dict[str, str] = {
    "openai": "openai", "openai_v2": "openai", "openai-v2": "openai",
    "anthropic": "anthropic",
    "google_genai": "google-genai", "google-genai": "google-genai",
    "chromadb": "chromadb", "chroma": "chromadb",
    "qdrant": "qdrant-client", "qdrant_client": "qdrant-client",
    "mcp": "mcp",
}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_INSTRUMENTS_EXTRA = re.compile(r"""extra\s*==\s*["']instruments(-any)?["']""")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Foreign:
    """Another project's instrumentor of one of tripwire's libraries."""

    entry_point: str  # its name in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
    distribution: str
    library: str  # the library (distribution name) it instruments
    ours: str  # tripwire's entry point for that library


def _libraries(ep: EntryPoint) -> frozenset[str]:
    """The libraries an instrumentor declares (its distribution's ``instruments`` extra)."""
    dist = getattr(ep, "dist", None)
    found = set()
    for requirement in (getattr(dist, "requires", None) or ()):
        if _INSTRUMENTS_EXTRA.search(requirement):
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                found.add(_normalise(match.group(1)))
    return frozenset(found)


def foreign_instrumentors() -> list[Foreign]:
    """Installed instrumentors, not tripwire's, that instrument one of tripwire's libraries
    and nothing broader."""
    found: list[Foreign] = []
    for ep in entry_points(group=GROUP):
        if ep.name in OURS.values():
            continue
        dist_name = distribution_name(ep)
        if _normalise(dist_name) == DISTRIBUTION:
            continue
        libraries = _libraries(ep)
        if not libraries:
            library = _KNOWN_NAMES.get(ep.name.lower())
            libraries = frozenset({library}) if library else frozenset()
        if not libraries or libraries & _BROADER or not libraries <= OURS.keys():
            continue
        for library in sorted(libraries):
            found.append(Foreign(ep.name, dist_name, library, OURS[library]))
    return found


def distribution_name(ep: EntryPoint) -> str:
    """The name of the distribution an entry point comes from (``?`` when unknown)."""
    dist = getattr(ep, "dist", None)
    return str(dist.metadata["Name"] or "?") if dist is not None else "?"


def disabled(env: Mapping[str, str]) -> list[str]:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` split as ``opentelemetry-instrument`` splits
    it."""
    raw = env.get(DISABLED_VARIABLE, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def prefers_ours(env: Mapping[str, str]) -> bool:
    """``TRIPWIRE_PREFERRED_INSTRUMENTOR`` read alone (anything but ``other`` keeps ours)."""
    return env.get(PREFERRED_VARIABLE, "").strip().lower() != PreferredInstrumentor.OTHER.value


def dropped_and_kept(foreign: Foreign, prefer_ours: bool) -> tuple[str, str]:
    """(the entry point to disable, the one that records the library's calls)."""
    return ((foreign.entry_point, foreign.ours) if prefer_ours
            else (foreign.ours, foreign.entry_point))


def keep_one_instrumentor_per_library(prefer_ours: bool = True) -> list[str]:
    """Add the instrumentors that would record calls a second time to
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (read by ``opentelemetry-instrument`` after the
    distro and configurator ran); log one INFO line per library saying which was kept and how
    to choose. Returns the names added."""
    chosen = disabled(os.environ)
    added: list[str] = []
    for foreign in foreign_instrumentors():
        if foreign.entry_point in chosen or foreign.ours in chosen:
            continue  # the user already chose
        drop, keep = dropped_and_kept(foreign, prefer_ours)
        if drop not in added:
            added.append(drop)
        logger.info(
            "tripwire: %s is instrumented by both %r (%s) and %r (tripwire-otel); %r records "
            "its calls, %r is disabled (TRIPWIRE_PREFERRED_INSTRUMENTOR=%s to keep the "
            "other one)", foreign.library, foreign.entry_point, foreign.distribution,
            foreign.ours, keep, drop, "other" if prefer_ours else "tripwire")
    if added:
        os.environ[DISABLED_VARIABLE] = ",".join([*chosen, *added])
    return added


__all__ = ["OURS", "Foreign", "foreign_instrumentors", "keep_one_instrumentor_per_library"]
