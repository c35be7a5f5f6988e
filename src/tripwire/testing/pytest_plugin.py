"""pytest plugin ``tripwire`` (entry point ``pytest11``): tripwire's test fixtures.

Importing this module must stay cheap and must not fail when optional provider SDKs are
missing: ``fixtures`` imports only pytest at module level; the OpenTelemetry SDK, the fake
servers and the provider SDKs are imported inside the fixtures.
"""

from __future__ import annotations

from tripwire.testing.fixtures import (
    fake_anthropic,
    fake_bedrock,
    fake_gemini,
    fake_openai,
    meter_provider,
    metric_reader,
    span_exporter,
    tracer_provider,
)

__all__ = ["fake_anthropic", "fake_bedrock", "fake_gemini", "fake_openai", "meter_provider", "metric_reader", "span_exporter", "tracer_provider"]
