"""Content capture, secrets, suppression, (un)instrumenting."""

from __future__ import annotations

import json

from google.genai import types

from tripwire import semconv as sc
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing.gemini_server import (
    gemini_function_call,
    gemini_response,
    gemini_text,
    gemini_thought,
)

from ..telemetry_env import all_values, redacted_content_events
from .conftest import API_KEY, Env

CONTENTS = [
    types.Content(role="user", parts=[types.Part(text="My email is jane@example.com")]),
    types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(
        id="fc-1", name="lookup", args={"q": "jane"}))]),
    types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        id="fc-1", name="lookup", response={"result": "found"}))]),
    {"role": "user", "parts": [{"text": "and now?"}]},
]
CONFIG = types.GenerateContentConfig(
    system_instruction="You are terse.",
    tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
        name="lookup", description="Look someone up",
        parameters=types.Schema(type=types.Type.OBJECT,
                                properties={"q": types.Schema(type=types.Type.STRING)}))])])
REPLY = [gemini_thought("thinking hard"), gemini_text("secret answer"),
         gemini_function_call("lookup", {"q": "john"}, id="fc-2")]


def test_content_off_by_default_and_key_never_recorded(env: Env) -> None:
    env.server.enqueue(gemini_response(REPLY))
    env.client().models.generate_content(model="gemini-2.0-flash", contents=CONTENTS,
                                         config=CONFIG)
    assert env.server.last_request.headers.get("x-goog-api-key") == API_KEY  # it was sent
    span = env.span()
    text = all_values(span)
    for secret in ("jane@example.com", "secret answer", "You are terse", API_KEY, "thinking"):
        assert secret not in text
    for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_TOOL_DEFINITIONS):
        assert key not in span.attributes
    assert span.events == ()
    # names and checks still work without content
    assert span.attributes[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("lookup",)


def test_content_on_span(env: Env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(gemini_response(REPLY))
    env.client().models.generate_content(model="gemini-2.0-flash", contents=CONTENTS,
                                         config=CONFIG)
    a = env.span().attributes
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "My email is jane@example.com"}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "name": "lookup", "id": "fc-1", "arguments": {"q": "jane"}}]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "response": {"result": "found"}, "id": "fc-1"}]},
        {"role": "user", "parts": [{"type": "text", "content": "and now?"}]},
    ]
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are terse."}]
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "lookup", "description": "Look someone up",
         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "reasoning", "content": "thinking hard"},
            {"type": "text", "content": "secret answer"},
            {"type": "tool_call", "name": "lookup", "id": "fc-2", "arguments": {"q": "john"}}]}]
    assert API_KEY not in all_values(env.span())


def test_plain_string_and_part_list_contents(env: Env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    client = env.client()
    client.models.generate_content(model="gemini-2.0-flash", contents="just text")
    client.models.generate_content(model="gemini-2.0-flash", contents=[
        "describe", types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png"),
        types.Part.from_uri(file_uri="gs://bucket/cat.png", mime_type="image/png")])
    first, second = (json.loads(s.attributes[sc.GEN_AI_INPUT_MESSAGES]) for s in env.spans())
    assert first == [{"role": "user", "parts": [{"type": "text", "content": "just text"}]}]
    assert second == [{"role": "user", "parts": [
        {"type": "text", "content": "describe"},
        {"type": "blob", "mime_type": "image/png"},  # bytes are never copied
        {"type": "uri", "uri": "gs://bucket/cat.png", "mime_type": "image/png"}]}]


def test_content_on_event_with_redaction(env: Env) -> None:
    replace_settings(capture_content=ContentCapture.EVENT_ONLY, content_redaction=("email",))
    env.client().models.generate_content(model="gemini-2.0-flash", contents=CONTENTS,
                                         config=CONFIG)
    span = env.span()
    events = redacted_content_events(span)
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS in events[0].attributes
    assert sc.GEN_AI_OUTPUT_MESSAGES in events[1].attributes


async def test_streamed_content_captured_on_span_and_event(env: Env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
    env.server.enqueue(gemini_response("streamed words here"))
    stream = await env.aio().models.generate_content_stream(model="gemini-2.0-flash",
                                                            contents="hi")
    async for _ in stream:
        pass
    span = env.span()
    outputs = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert "".join(p["content"] for p in outputs[0]["parts"]) == "streamed words here"
    assert outputs[0]["finish_reason"] == "stop"
    assert len(span.events) == 2
    assert API_KEY not in all_values(span)


def test_streamed_text_is_one_part(env: Env) -> None:
    # The fake server streams the words in several chunks: the captured answer joins them.
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(gemini_response("streamed words here"))
    chunks = list(env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                              contents="hi"))
    assert len(chunks) > 1
    outputs = json.loads(env.span().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs[0]["parts"] == [{"type": "text", "content": "streamed words here"}]
