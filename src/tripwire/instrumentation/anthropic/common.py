"""What every Anthropic mapping needs: provider and server from the client."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._compat import anthropic_client_provider_name
from tripwire._core.instrumentor import ClientInfos

# Platform clients of the same SDK (same Messages resource, other hosts and providers).
_CLIENT_PROVIDERS: dict[str, str] = {
    "AnthropicBedrock": semconv.PROVIDER_AWS_BEDROCK,
    "AsyncAnthropicBedrock": semconv.PROVIDER_AWS_BEDROCK,
    "AnthropicVertex": semconv.PROVIDER_GCP_VERTEX_AI,
    "AsyncAnthropicVertex": semconv.PROVIDER_GCP_VERTEX_AI,
}


def provider_for(client: Any, host: str | None = None) -> str:
    # Recent SDKs name their own gen_ai.provider.name per client class; trust it first.
    named = anthropic_client_provider_name(client)
    if named is not None:
        return named
    return _CLIENT_PROVIDERS.get(type(client).__name__, semconv.PROVIDER_ANTHROPIC)


client_info = ClientInfos(semconv.PROVIDER_ANTHROPIC, provider_for)
