"""What every OpenAI mapping needs: provider and server from the client, shared shapes."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core.fields import get, given, safe_text
from tripwire._core.instrumentor import ClientInfos
from tripwire._core.invocation import Lazy, Request, Result
from tripwire._core.stainless import stream_requested

# OpenAI-compatible hosts with a well-known gen_ai.provider.name. Unknown hosts (vLLM,
# Ollama, gateways) report `openai`, the protocol spoken; server.address tells them apart.
KNOWN_HOSTS: dict[str, str] = {
    "api.openai.com": semconv.PROVIDER_OPENAI,
    "api.groq.com": semconv.PROVIDER_GROQ,
    "api.deepseek.com": semconv.PROVIDER_DEEPSEEK,
    "api.mistral.ai": semconv.PROVIDER_MISTRAL,
    "api.x.ai": semconv.PROVIDER_XAI,
    "api.perplexity.ai": semconv.PROVIDER_PERPLEXITY,
    "generativelanguage.googleapis.com": semconv.PROVIDER_GCP_GEMINI,
    "api.cohere.ai": semconv.PROVIDER_COHERE,
    "api.cohere.com": semconv.PROVIDER_COHERE,
}
_HOST_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", semconv.PROVIDER_AZURE_INFERENCE),
    (".models.ai.azure.com", semconv.PROVIDER_AZURE_INFERENCE),
)


def provider_for(client: Any, host: str | None) -> str:
    if type(client).__name__ in ("AzureOpenAI", "AsyncAzureOpenAI"):
        return semconv.PROVIDER_AZURE_OPENAI
    if host:
        host = host.lower()
        known = KNOWN_HOSTS.get(host)
        if known:
            return known
        for suffix, provider in _HOST_SUFFIXES:
            if host.endswith(suffix):
                return provider
    return semconv.PROVIDER_OPENAI


client_info = ClientInfos(semconv.PROVIDER_OPENAI, provider_for)


start_attributes = client_info.start


def chat_request(provider: str, attrs: dict[str, Any], kwargs: dict[str, Any], tools: list[Any],
                 declared: dict[str, Any] | None, *, system_texts: list[str],
                 input_messages: Lazy, prompt_text: Lazy,
                 system_instructions: Lazy | None = None) -> Request:
    """The ``Request`` of a chat call (Chat Completions, Responses): model, stream flag,
    service tier and tools read the same way from the ``create`` arguments; the API's own
    parts given."""
    tier = kwargs.get("service_tier")
    if not given(tier):  # SDKs older than the parameter send it in extra_body
        tier = get(kwargs.get("extra_body"), "service_tier")
    if isinstance(tier, str) and tier:
        attrs[semconv.OPENAI_REQUEST_SERVICE_TIER] = safe_text(tier)
    return Request(
        operation=semconv.OP_CHAT,
        provider=provider,
        model=kwargs.get("model") if given(kwargs.get("model")) else None,
        attributes=attrs,
        stream=stream_requested(kwargs),
        declared_tools=declared,
        system_texts=system_texts,
        input_messages=input_messages,
        system_instructions=system_instructions,
        tool_definitions=lambda: tools,  # (none recorded when there are none)
        prompt_text=prompt_text,
    )


def usage_numbers(usage: Any, input_key: str, output_key: str, input_details: str,
                  output_details: str) -> dict[str, Any]:
    if usage is None:
        return {}
    out: dict[str, Any] = {
        "input_tokens": get(usage, input_key),
        "output_tokens": get(usage, output_key),
    }
    details = get(usage, input_details)
    if details is not None:
        out["cache_read_tokens"] = get(details, "cached_tokens")
    details = get(usage, output_details)
    if details is not None:
        out["reasoning_tokens"] = get(details, "reasoning_tokens")
    return out



def served_tier(result: Result, response: Any) -> None:
    """``openai.response.service_tier``: the tier that served the call (a request for
    ``auto`` or ``priority`` may be served at another), which its price follows."""
    tier = get(response, "service_tier")
    if isinstance(tier, str) and tier:
        result.attributes[semconv.OPENAI_RESPONSE_SERVICE_TIER] = safe_text(tier)
