"""pytest plugin with tripwire's test fixtures — opt-in, never auto-loaded.

Enable it in your ``conftest.py``::

    pytest_plugins = ["tripwire.testing.pytest_plugin"]

or for one run with ``pytest -p tripwire.testing.pytest_plugin``. It is not a ``pytest11``
entry point on purpose: installing tripwire-otel must not add fixtures (or import time) to
every pytest session of every project in the environment. Every fixture is named
``tripwire_…`` so it cannot shadow one of yours:

``tripwire_span_exporter``, ``tripwire_tracer_provider``, ``tripwire_metric_reader``,
``tripwire_meter_provider``, ``tripwire_fake_openai``, ``tripwire_fake_anthropic``,
``tripwire_fake_gemini``, ``tripwire_fake_bedrock``.

Importing this module must stay cheap and must not fail when optional provider SDKs are
missing: ``fixtures`` imports only pytest at module level; the OpenTelemetry SDK, the fake
servers and the provider SDKs are imported inside the fixtures.
"""

from __future__ import annotations

from tripwire.testing.fixtures import (
    tripwire_fake_anthropic,
    tripwire_fake_bedrock,
    tripwire_fake_gemini,
    tripwire_fake_openai,
    tripwire_meter_provider,
    tripwire_metric_reader,
    tripwire_span_exporter,
    tripwire_tracer_provider,
)

__all__ = [
    "tripwire_fake_anthropic",
    "tripwire_fake_bedrock",
    "tripwire_fake_gemini",
    "tripwire_fake_openai",
    "tripwire_meter_provider",
    "tripwire_metric_reader",
    "tripwire_span_exporter",
    "tripwire_tracer_provider",
]
