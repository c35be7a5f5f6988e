"""In-process OpenAI wire responses on httpx2.MockTransport: no sockets, no network."""

from __future__ import annotations

import json
from typing import Any

import httpx2

MESSAGES = [{"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": "Where is my order 1234?"}]
STREAM_CHUNKS = 200  # content chunks of the long stream

CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49,
              "prompt_tokens_details": {"cached_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}
EMBEDDINGS = {
    "object": "list", "model": "text-embedding-3-small",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1] * 16}],
    "usage": {"prompt_tokens": 5, "total_tokens": 5},
}
RESPONSE = {
    "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o-mini-2024-07-18",
    "status": "completed", "output": [{"type": "message", "id": "msg_1", "role": "assistant",
                                       "status": "completed", "content": [
        {"type": "output_text", "text": "Your order ships today.", "annotations": []}]}],
    "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    "usage": {"input_tokens": 42, "output_tokens": 7, "total_tokens": 49,
              "input_tokens_details": {"cached_tokens": 0},
              "output_tokens_details": {"reasoning_tokens": 0}},
}


def stream_body(chunks: int) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini-2024-07-18"}
    out = []
    for i in range(chunks):
        out.append({**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "},
                                         "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**base, "choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": chunks,
                                                "total_tokens": 42 + chunks}})
    return b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in out) + b"data: [DONE]\n\n"


def _answer(request: Any, body: bytes, stream: bytes) -> Any:
    """``stream`` as server-sent events if the request asked for a stream, else ``body``."""
    if b'"stream":true' in request.content or b'"stream": true' in request.content:
        return httpx2.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, content=body, headers={"content-type": "application/json"})


def make_clients(stream_chunks: int = STREAM_CHUNKS) -> tuple[Any, Any]:
    import openai

    chat = json.dumps(CHAT).encode()
    emb = json.dumps(EMBEDDINGS).encode()
    resp = json.dumps(RESPONSE).encode()
    stream = stream_body(stream_chunks)

    def handler(request: Any) -> Any:
        path = request.url.path
        if path.endswith("/embeddings"):
            return _answer(request, emb, stream)
        if path.endswith("/responses"):
            return _answer(request, resp, stream)
        return _answer(request, chat, stream)

    client = openai.OpenAI(api_key="bench", base_url="http://bench.local/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    return client, handler


ANTHROPIC_MODEL = "claude-sonnet-4-5"


def anthropic_bodies(chunks: int = STREAM_CHUNKS) -> tuple[bytes, bytes]:
    """(message JSON, SSE stream with ``chunks`` text deltas) in Anthropic's wire format,
    built by the fake server of :mod:`tripwire.testing.anthropic_server`."""
    from tripwire.testing.anthropic_server import AnthropicMessage

    message = AnthropicMessage("Your order ships today.", message_id="msg_bench")
    streamed = AnthropicMessage("".join(f"w{i} " for i in range(chunks)).rstrip(),
                                message_id="msg_bench", ping=False)
    body = json.dumps(message.payload(ANTHROPIC_MODEL)).encode()
    return body, b"".join(streamed.sse_chunks(ANTHROPIC_MODEL))


def make_anthropic_client(stream_chunks: int = STREAM_CHUNKS) -> Any:
    """An ``anthropic.Anthropic`` client answering from memory (httpx2.MockTransport)."""
    import anthropic

    body, stream = anthropic_bodies(stream_chunks)

    def handler(request: Any) -> Any:
        return _answer(request, body, stream)

    return anthropic.Anthropic(api_key="bench", base_url="http://bench.local", max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
