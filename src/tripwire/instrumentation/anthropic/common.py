"""What every Anthropic mapping needs: provider and server from the client."""

from __future__ import annotations

import weakref
from typing import Any

from tripwire import semconv
from tripwire._core.fields import server_address_port

# Platform clients of the same SDK (same Messages resource, other hosts and providers).
_CLIENT_PROVIDERS: dict[str, str] = {
    "AnthropicBedrock": semconv.PROVIDER_AWS_BEDROCK,
    "AsyncAnthropicBedrock": semconv.PROVIDER_AWS_BEDROCK,
    "AnthropicVertex": semconv.PROVIDER_GCP_VERTEX_AI,
    "AsyncAnthropicVertex": semconv.PROVIDER_GCP_VERTEX_AI,
}

ClientInfo = tuple[str, dict[str, Any]]  # provider name, server attributes
_cache: weakref.WeakKeyDictionary[Any, ClientInfo] = weakref.WeakKeyDictionary()


def provider_for(client: Any) -> str:
    # Recent SDKs name their own gen_ai.provider.name per client class; trust it first.
    named = getattr(type(client), "_gen_ai_provider_name", None)
    if isinstance(named, str) and named:
        return named
    return _CLIENT_PROVIDERS.get(type(client).__name__, semconv.PROVIDER_ANTHROPIC)


def client_info(resource: Any) -> ClientInfo:
    """Provider and server attributes of the client behind an SDK resource (cached)."""
    client = getattr(resource, "_client", None)
    if client is None:
        return semconv.PROVIDER_ANTHROPIC, {}
    try:
        return _cache[client]
    except (KeyError, TypeError):
        pass
    host, port = server_address_port(getattr(client, "base_url", ""))
    attrs: dict[str, Any] = {}
    if host:
        attrs[semconv.SERVER_ADDRESS] = host
    if port:
        attrs[semconv.SERVER_PORT] = port
    info = (provider_for(client), attrs)
    try:
        _cache[client] = info
    except TypeError:
        pass
    return info
