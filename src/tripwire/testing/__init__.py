"""Test helpers: fake provider servers speaking the real wire formats, pytest fixtures.

The fake servers need only the standard library. The span/metric helpers live in
:mod:`tripwire.testing.fixtures` (which imports pytest) and are loaded on first use, so
importing this package never requires pytest or a provider SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tripwire.runtime import reset
from tripwire.testing._http import (
    FakeServer,
    RecordedRequest,
    Reply,
    StreamReply,
    json_reply,
    sse_event,
)
from tripwire.testing.anthropic_server import FakeAnthropicServer
from tripwire.testing.bedrock_server import FakeBedrockServer
from tripwire.testing.gemini_server import FakeGeminiServer
from tripwire.testing.openai_server import (
    ChatReply,
    EmbeddingsReply,
    FakeOpenAIServer,
    ResponsesReply,
    ScriptedReply,
    ToolCall,
    Usage,
    bad_request,
    chat_reply,
    context_length_exceeded,
    count_words,
    embeddings_reply,
    error_reply,
    rate_limited,
    responses_reply,
    server_error,
    unauthorized,
)

if TYPE_CHECKING:
    from tripwire.testing.fixtures import find_span, get_metric_points, spans_by_name

_FROM_FIXTURES = frozenset({"find_span", "get_metric_points", "spans_by_name"})

__all__ = [
    "ChatReply",
    "EmbeddingsReply",
    "FakeAnthropicServer",
    "FakeBedrockServer",
    "FakeGeminiServer",
    "FakeOpenAIServer",
    "FakeServer",
    "RecordedRequest",
    "Reply",
    "ResponsesReply",
    "ScriptedReply",
    "StreamReply",
    "ToolCall",
    "Usage",
    "bad_request",
    "chat_reply",
    "context_length_exceeded",
    "count_words",
    "embeddings_reply",
    "error_reply",
    "find_span",
    "get_metric_points",
    "json_reply",
    "rate_limited",
    "reset",
    "responses_reply",
    "server_error",
    "spans_by_name",
    "sse_event",
    "unauthorized",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_FIXTURES:
        from tripwire.testing import fixtures

        return getattr(fixtures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
