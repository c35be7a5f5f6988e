"""The real ``anthropic`` SDK (sync and async) against FakeAnthropicServer."""

from __future__ import annotations

import anthropic
import httpx
import pytest

try:  # anthropic 2.x transports over httpx2
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError,
                                                      anthropic.APIError)
except ImportError:  # pragma: no cover
    TRANSPORT_ERRORS = (httpx.HTTPError, anthropic.APIError)

from tripwire.testing.anthropic_server import (
    DEFAULT_USAGE,
    AnthropicUsage,
    FakeAnthropicServer,
    anthropic_error,
    anthropic_message,
    anthropic_overloaded,
    anthropic_rate_limited,
    anthropic_refusal,
    anthropic_text,
    anthropic_thinking,
    anthropic_tool_use,
)

# The installed SDK warns about deprecated model names; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODEL = "claude-sonnet-4-5"
SNAPSHOT = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}]


@pytest.fixture
def server():
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def client(server):
    with anthropic.Anthropic(api_key="test-key", base_url=server.url, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server):
    async with anthropic.AsyncAnthropic(api_key="test-key", base_url=server.url,
                                        max_retries=0) as c:
        yield c


def create(client, **kwargs):
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 256)
    kwargs.setdefault("messages", MESSAGES)
    return client.messages.create(**kwargs)


# --- JSON --------------------------------------------------------------------------------
def test_default_reply_text_usage_and_snapshot(server, client):
    message = create(client, system="Be brief.")
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake Anthropic server."
    assert message.model == SNAPSHOT
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")
    assert message.usage.input_tokens == DEFAULT_USAGE.input_tokens == 25
    assert message.usage.output_tokens == 12
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.json["system"] == "Be brief."
    # SDK versions differ: x-api-key (1.x) or a bearer token (2.x)
    assert "test-key" in (request.headers.get("x-api-key"), request.headers.get("authorization",
                                                                               "")[7:])


def test_tool_use_thinking_and_cache_usage(server, client):
    server.enqueue(anthropic_message(
        [anthropic_thinking("The user wants weather."), anthropic_text("Let me check."),
         anthropic_tool_use("get_weather", {"city": "Paris"}, id="toolu_1")],
        usage=AnthropicUsage(input_tokens=7, output_tokens=30, cache_read_input_tokens=100,
                             cache_creation_input_tokens=40)))
    message = create(client, tools=TOOLS)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "The user wants weather."
    tool = message.content[2]
    assert (tool.id, tool.name, tool.input) == ("toolu_1", "get_weather", {"city": "Paris"})
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (7, 30)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (100, 40)


@pytest.mark.parametrize("stop_reason", ["max_tokens", "stop_sequence", "pause_turn",
                                         "model_context_window_exceeded"])
def test_scripted_stop_reasons(server, client, stop_reason):
    server.enqueue(anthropic_message("cut", stop_reason=stop_reason,
                                     stop_sequence="###" if stop_reason == "stop_sequence"
                                     else None))
    message = create(client)
    assert message.stop_reason == stop_reason
    if stop_reason == "stop_sequence":
        assert message.stop_sequence == "###"


def test_refusal_with_category(server, client):
    server.enqueue(anthropic_refusal("cyber", explanation="exploit development"))
    message = create(client)
    assert message.stop_reason == "refusal"
    assert message.content == []
    assert message.stop_details is not None
    assert message.stop_details.type == "refusal"
    assert message.stop_details.category == "cyber"
    assert message.stop_details.explanation == "exploit development"


def test_refusal_without_details(server, client):
    server.enqueue(anthropic_refusal(text="I can't help with that.", with_details=False))
    message = create(client)
    assert message.stop_reason == "refusal"
    assert message.stop_details is None
    assert message.content[0].text == "I can't help with that."


def test_snapshot_mapping_can_change(server, client, monkeypatch):
    assert create(client).model == SNAPSHOT
    monkeypatch.setitem(FakeAnthropicServer.MODEL_SNAPSHOTS, MODEL, "claude-sonnet-4-5-20260101")
    assert create(client).model == "claude-sonnet-4-5-20260101"
    assert create(client, model="claude-custom").model == "claude-custom"  # unknown: echoed
    server.enqueue(anthropic_message(model="pinned-model"))
    assert create(client).model == "pinned-model"


# --- streams -----------------------------------------------------------------------------
def test_create_stream_event_sequence(server, client):
    server.enqueue(anthropic_message(
        [anthropic_text("Sure thing."), anthropic_tool_use("get_weather", {"city": "Paris"})],
        usage=AnthropicUsage(11, 22, 33, 44)))
    events = list(create(client, stream=True, tools=TOOLS))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert "ping" not in types  # the SDK swallows ping events
    assert types.count("content_block_start") == types.count("content_block_stop") == 2
    text = "".join(e.delta.text for e in events
                   if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == "Sure thing."
    raw_json = "".join(e.delta.partial_json for e in events
                       if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
    assert raw_json == '{"city": "Paris"}'
    start = events[0].message
    assert start.model == SNAPSHOT and start.stop_reason is None
    assert start.usage.input_tokens == 11 and start.usage.cache_read_input_tokens == 33
    delta = events[-2]
    assert delta.delta.stop_reason == "tool_use"
    assert delta.usage.output_tokens == 22 and delta.usage.input_tokens == 11
    assert delta.usage.cache_creation_input_tokens == 44
    assert server.requests[0].json["stream"] is True


def test_stream_helper_final_message(server, client):
    server.enqueue(anthropic_message(
        [anthropic_thinking("hmm"), anthropic_text("It is sunny."),
         anthropic_tool_use("get_weather", {"city": "Paris", "days": [1, 2]}, id="toolu_9")],
        usage=AnthropicUsage(5, 6, 7, 8)))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES,
                                tools=TOOLS) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "It is sunny."
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "hmm" and final.content[0].signature == "fake-signature"
    assert final.content[2].input == {"city": "Paris", "days": [1, 2]}
    assert final.stop_reason == "tool_use"
    assert final.model == SNAPSHOT
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 6)
    assert (final.usage.cache_read_input_tokens, final.usage.cache_creation_input_tokens) == (7, 8)


def test_stream_helper_output_only_delta_usage_keeps_input(server, client):
    server.enqueue(anthropic_message("ok", usage=AnthropicUsage(9, 4, 2, 1),
                                     delta_usage="output_only"))
    with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 4)
    assert final.usage.cache_read_input_tokens == 2


def test_stream_refusal_with_category(server, client):
    server.enqueue(anthropic_refusal("bio", text="I can't"))
    with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    assert final.stop_details is not None and final.stop_details.category == "bio"
    assert final.content[0].text == "I can't"


def test_truncated_stream_raises(server, client):
    server.enqueue(anthropic_message("one two three four five", abort_after=4))
    seen = []
    with pytest.raises(TRANSPORT_ERRORS):
        for event in create(client, stream=True):
            seen.append(event.type)
    assert seen[0] == "message_start"
    assert "message_stop" not in seen


def test_truncated_stream_helper_raises(server, client):
    server.enqueue(anthropic_message("one two three", abort_after=3))
    with pytest.raises(TRANSPORT_ERRORS), \
            client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        stream.get_final_message()


def test_error_event_mid_stream(server, client):
    server.enqueue(anthropic_message("one two three", error_after=3))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in create(client, stream=True):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start"]  # ping is swallowed
    assert info.value.body["error"]["type"] == "overloaded_error"


# --- errors ------------------------------------------------------------------------------
def test_rate_limit_error_body_and_headers(server, client):
    server.enqueue(anthropic_rate_limited(retry_after=2.5))
    with pytest.raises(anthropic.RateLimitError) as info:
        create(client)
    error = info.value
    assert error.status_code == 429
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "rate_limit_error"
    assert error.response.headers["retry-after"] == "3"
    assert error.response.headers["retry-after-ms"] == "2500"
    assert error.request_id and error.request_id.startswith("req_")


def test_retry_after_429_then_success(server):
    server.enqueue(anthropic_rate_limited(retry_after=0.01), anthropic_overloaded(retry_after=0.01))
    with anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=2) as client:
        message = create(client)
    assert message.content[0].text == "Hello from the fake Anthropic server."
    assert len(server.requests) == 3


@pytest.mark.parametrize(("reply", "exc"), [
    (anthropic_overloaded(), anthropic.OverloadedError),
    (anthropic_error(500), anthropic.InternalServerError),
    (anthropic_error(400, message="max_tokens: too large"), anthropic.BadRequestError),
    (anthropic_error(401), anthropic.AuthenticationError),
])
def test_scripted_errors(server, client, reply, exc):
    server.enqueue(reply)
    with pytest.raises(exc) as info:
        create(client)
    assert info.value.status_code == reply.status
    assert info.value.body["error"]["type"]


def test_overloaded_on_stream_request(server, client):
    server.enqueue(anthropic_overloaded())
    with pytest.raises(anthropic.OverloadedError), \
            client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        stream.get_final_message()


def test_unknown_route_is_404(server, client):
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-x")


# --- async -------------------------------------------------------------------------------
async def test_async_create_json_and_stream(server, aclient):
    server.enqueue(anthropic_message([anthropic_tool_use("get_weather", {"city": "Oslo"})],
                                     usage=AnthropicUsage(3, 4)))
    message = await aclient.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES,
                                            tools=TOOLS)
    assert message.content[0].input == {"city": "Oslo"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 4)

    stream = await aclient.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES,
                                           stream=True)
    types = [event.type async for event in stream]
    assert types[0] == "message_start" and types[-1] == "message_stop"


async def test_async_stream_helper(server, aclient):
    server.enqueue(anthropic_message("Async hello.", usage=AnthropicUsage(1, 2, 3, 4)))
    async with aclient.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        chunks = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(chunks) == "Async hello."
    assert final.usage.output_tokens == 2 and final.usage.cache_creation_input_tokens == 4


async def test_async_truncated_stream_raises(server, aclient):
    server.enqueue(anthropic_message("a b c d", abort_after=3))
    with pytest.raises(TRANSPORT_ERRORS):
        stream = await aclient.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES,
                                               stream=True)
        async for _ in stream:
            pass


async def test_async_error(server, aclient):
    server.enqueue(anthropic_error(529))
    with pytest.raises(anthropic.OverloadedError):
        await aclient.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)


# --- server helpers ----------------------------------------------------------------------
def test_client_helpers_and_instance_snapshots(server):
    server.model_snapshots[MODEL] = "claude-sonnet-4-5-29990101"
    server.enqueue(anthropic_message("queued"))
    with server.client() as client:
        queued = create(client)  # a queued spec sees the server's table too
        default = create(client, stream=True)
        events = list(default)
    assert queued.model == "claude-sonnet-4-5-29990101"
    assert events[0].message.model == "claude-sonnet-4-5-29990101"
    assert FakeAnthropicServer.MODEL_SNAPSHOTS[MODEL] == SNAPSHOT  # class table untouched
    assert server.last_request.json["stream"] is True
    assert len(server.requests_to("/v1/messages")) == 2
    with FakeAnthropicServer() as other, other.client() as client:
        assert create(client).model == SNAPSHOT


def test_static_error_gets_fresh_request_id(server):
    error = anthropic_error(500)
    server.enqueue(error, error)
    ids = []
    with server.client() as client:
        for _ in range(2):
            with pytest.raises(anthropic.InternalServerError) as info:
                create(client)
            ids.append(info.value.response.headers["request-id"])
    assert ids[0] != ids[1]


async def test_async_client_helper(server):
    async with server.async_client() as client:
        message = await client.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    assert message.model == SNAPSHOT
