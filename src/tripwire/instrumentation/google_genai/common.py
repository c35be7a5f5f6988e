"""What every google-genai mapping needs: client mode and server, config fields, contents.

The SDK accepts its pydantic types and plain dicts (snake_case or camelCase keys) alike, so
every read goes through :func:`field`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from tripwire import semconv
from tripwire._compat import GENAI_CLIENT_ATTR, genai_http_options
from tripwire._core import content
from tripwire._core.fields import MAX_DEPTH, get, is_mapping
from tripwire._core.instrumentor import ClientInfos


def _provider_for(api_client: Any, host: str | None) -> str:
    return (semconv.PROVIDER_GCP_VERTEX_AI if getattr(api_client, "vertexai", False)
            else semconv.PROVIDER_GCP_GEMINI)


# Provider (Developer API or Vertex AI) and server of the client behind a Models module.
client_info = ClientInfos(
    semconv.PROVIDER_GCP_GEMINI, _provider_for, client_attr=GENAI_CLIENT_ATTR,
    base_url=lambda api_client: get(genai_http_options(api_client), "base_url"))


def model_id(model: Any) -> str | None:
    """The bare model id: ``models/x``, ``publishers/google/models/x`` and full Vertex
    resource names become ``x`` (so prices and drift see one name); tuned models and
    endpoints are kept as given."""
    if not isinstance(model, str) or not model:
        return None
    if model.startswith("tunedModels/"):
        return model
    marker = model.rfind("models/")
    if marker >= 0 and (marker == 0 or model[marker - 1] == "/"):
        return model[marker + len("models/"):] or model
    return model


@functools.lru_cache(maxsize=512)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def field(obj: Any, name: str) -> Any:
    """``obj.name`` for SDK types; ``obj[name]`` or ``obj[camelName]`` for dicts."""
    value = get(obj, name)
    if value is None and obj is not None and is_mapping(obj):
        return get(obj, _camel(name))
    return value


def enum_name(value: Any) -> str | None:
    """An SDK enum (or its wire string) as a lower-case name: ``SAFETY`` -> ``safety``."""
    if value is None:
        return None
    name = getattr(value, "name", None)
    text = name if isinstance(name, str) else str(value)
    return text.lower() or None


# --- contents -> GenAI message JSON (only built when content capture is on) --------------

def _is_content(item: Any) -> bool:
    """A ``Content`` (role + parts) rather than a single part."""
    if isinstance(item, Mapping):
        return "parts" in item or "role" in item
    return type(item).__name__ == "Content" or (
        hasattr(item, "parts") and hasattr(item, "role"))


def genai_part(part: Any) -> dict[str, Any]:
    """One SDK part as a GenAI message part; binary data is never copied, only its type."""
    if isinstance(part, str):
        return content.text_part(part)
    text = field(part, "text")
    if text is not None:
        if field(part, "thought"):
            return {"type": "reasoning", "content": text}
        return content.text_part(text)
    call = field(part, "function_call")
    if call is not None:
        return content.tool_call_part(field(call, "id"), field(call, "name"),
                                      field(call, "args") or {})
    response = field(part, "function_response")
    if response is not None:
        return content.tool_response_part(field(response, "id"), field(response, "response"))
    blob = field(part, "inline_data")
    if blob is not None:
        return {"type": "blob", "mime_type": field(blob, "mime_type")}
    file_data = field(part, "file_data")
    if file_data is not None:
        return {"type": "uri", "uri": field(file_data, "file_uri"),
                "mime_type": field(file_data, "mime_type")}
    for kind in ("executable_code", "code_execution_result"):
        if field(part, kind) is not None:
            return {"type": kind}
    return {"type": type(part).__name__ if not isinstance(part, Mapping) else "unknown"}


def _role(parts: list[dict[str, Any]], role: Any = None) -> str:
    """The GenAI role of a message of ``parts``; bare parts (no role) are the user's."""
    if parts and all(p.get("type") == "tool_call_response" for p in parts):
        return "tool"
    if role == "model":
        return "assistant"
    return str(role) if role else "user"


def content_message(item: Any) -> dict[str, Any]:
    parts = [genai_part(p) for p in field(item, "parts") or ()]
    return content.message(_role(parts, field(item, "role")), parts)


def input_messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` (str, part, ``Content``, or a list of those) as GenAI input messages.

    As the SDK does, consecutive bare parts form one user message."""
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for item in items:
        if item is None:
            continue
        if _is_content(item):
            if pending:
                messages.append(content.message(_role(pending), pending))
                pending = []
            messages.append(content_message(item))
        else:
            pending.append(genai_part(item))
    if pending:
        messages.append(content.message(_role(pending), pending))
    return messages


def texts_of(value: Any, depth: int = 0) -> list[str]:
    """Every plain text in a str / part / ``Content`` / list of those (no thoughts); lists
    nested past ``fields.MAX_DEPTH`` are not walked."""
    if value is None or depth > MAX_DEPTH:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in texts_of(item, depth + 1)]
    if _is_content(value):
        return texts_of(list(field(value, "parts") or ()), depth + 1)
    text = field(value, "text")
    return [text] if isinstance(text, str) and not field(value, "thought") else []
