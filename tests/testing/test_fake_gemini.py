"""The real ``google-genai`` SDK (sync and async, Developer API and Vertex AI modes)
against FakeGeminiServer."""

from __future__ import annotations

import pytest

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

from tripwire.testing.gemini_server import (  # noqa: E402
    FakeGeminiServer,
    GeminiUsage,
    gemini_error,
    gemini_function_call,
    gemini_prompt_blocked,
    gemini_rate_limited,
    gemini_response,
    gemini_safety_block,
    gemini_text,
    gemini_thought,
    parse_gemini_path,
)

MODEL = "gemini-2.5-flash"


def _transport_errors() -> tuple[type[Exception], ...]:
    """What a connection dropped mid-body raises: httpx / httpx2 (sync), aiohttp (async)."""
    found: list[type[Exception]] = []
    for module, name in (("httpx", "TransportError"), ("httpx2", "TransportError"),
                         ("aiohttp", "ClientPayloadError")):
        try:
            found.append(getattr(__import__(module), name))
        except ImportError:  # pragma: no cover
            pass
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


@pytest.fixture
def server():
    with FakeGeminiServer() as fake:
        yield fake


@pytest.fixture
def client(server, monkeypatch):
    for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
                 "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT",
                 "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    return genai.Client(api_key="test-key", vertexai=False,
                        http_options=types.HttpOptions(base_url=server.url))


def generate(client, **kwargs):
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("contents", "What is the weather in Paris?")
    return client.models.generate_content(**kwargs)


def stream(client, **kwargs):
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("contents", "What is the weather in Paris?")
    return list(client.models.generate_content_stream(**kwargs))


def test_parse_gemini_path():
    assert parse_gemini_path("/v1beta/models/gemini-2.5-flash:generateContent") == (
        "gemini-2.5-flash", "generateContent")
    assert parse_gemini_path(
        "/v1beta1/projects/p/locations/l/publishers/google/models/m-1:streamGenerateContent"
    ) == ("m-1", "streamGenerateContent")
    assert parse_gemini_path("/v1beta/files") is None


# --- JSON --------------------------------------------------------------------------------
def test_default_reply(server, client):
    response = generate(client, config=types.GenerateContentConfig(
        system_instruction="Be brief.", temperature=0.2))
    assert response.text == "Hello from the fake Gemini server."
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == MODEL
    assert response.response_id.startswith("fake-gemini-")
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count,
            usage.total_token_count) == (20, 10, 30)
    assert usage.cached_content_token_count is None and usage.thoughts_token_count is None
    (request,) = server.requests
    assert request.path.endswith(f"/models/{MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.json["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert request.json["generationConfig"]["temperature"] == 0.2


def test_function_calls_thoughts_and_usage(server, client):
    server.enqueue(gemini_response(
        [gemini_thought("Need weather."), gemini_text("Checking."),
         gemini_function_call("get_weather", {"city": "Paris"}),
         gemini_function_call("get_time", {"tz": "CET"}, id="call-2")],
        usage=GeminiUsage(prompt_token_count=120, candidates_token_count=15,
                          cached_content_token_count=100, thoughts_token_count=40),
        response_id="resp-1"))
    response = generate(client)
    calls = response.function_calls
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"}),
                                                 ("get_time", {"tz": "CET"})]
    assert calls[1].id == "call-2"
    parts = response.candidates[0].content.parts
    assert parts[0].thought is True and parts[0].text == "Need weather."
    assert response.candidates[0].content.role == "model"
    usage = response.usage_metadata
    assert usage.prompt_token_count == 120
    assert usage.cached_content_token_count == 100
    assert usage.thoughts_token_count == 40
    assert usage.candidates_token_count == 15
    assert usage.total_token_count == 175
    assert response.response_id == "resp-1"


def test_max_tokens(server, client):
    server.enqueue(gemini_response("truncated", finish_reason="MAX_TOKENS"))
    response = generate(client)
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.text == "truncated"


def test_safety_finish(server, client):
    server.enqueue(gemini_safety_block("HARM_CATEGORY_HARASSMENT"))
    response = generate(client)
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.SAFETY
    assert candidate.content is None
    blocked = [r for r in candidate.safety_ratings if r.blocked]
    assert [r.category for r in blocked] == [types.HarmCategory.HARM_CATEGORY_HARASSMENT]
    assert response.usage_metadata.candidates_token_count is None


def test_prompt_blocked(server, client):
    server.enqueue(gemini_prompt_blocked("PROHIBITED_CONTENT"))
    response = generate(client)
    assert not response.candidates
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert response.text is None
    assert response.usage_metadata.prompt_token_count == 20
    assert response.usage_metadata.total_token_count == 20


def test_model_version_mapping(server, client, monkeypatch):
    assert generate(client, model="gemini-1.5-flash").model_version == "gemini-1.5-flash-002"
    monkeypatch.setitem(FakeGeminiServer.MODEL_VERSIONS, MODEL, "gemini-2.5-flash-002")
    assert generate(client).model_version == "gemini-2.5-flash-002"
    server.enqueue(gemini_response(model_version="pinned"))
    assert generate(client).model_version == "pinned"


# --- streams -----------------------------------------------------------------------------
def test_stream_chunks(server, client):
    server.enqueue(gemini_response(
        [gemini_text("It is sunny today."), gemini_function_call("get_weather", {"c": "X"})],
        usage=GeminiUsage(12, 7, thoughts_token_count=3), response_id="r-s"))
    chunks = stream(client)
    assert len(chunks) == 5  # four words, one function call
    assert "".join(c.text or "" for c in chunks[:4]) == "It is sunny today."
    assert [c.candidates[0].finish_reason for c in chunks[:-1]] == [None] * 4
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.function_calls[0].name == "get_weather"
    assert last.usage_metadata.candidates_token_count == 7
    assert last.usage_metadata.thoughts_token_count == 3
    assert last.usage_metadata.total_token_count == 22
    assert chunks[0].usage_metadata.prompt_token_count == 12
    assert chunks[0].usage_metadata.candidates_token_count is None
    assert {c.response_id for c in chunks} == {"r-s"}
    assert {c.model_version for c in chunks} == {MODEL}
    request = server.requests[0]
    assert request.path.endswith(f"/models/{MODEL}:streamGenerateContent")
    assert request.query == {"alt": ["sse"]}


def test_stream_safety_and_prompt_blocked(server, client):
    server.enqueue(gemini_safety_block(parts="Partial answer"))
    chunks = stream(client)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.SAFETY
    assert "".join(c.text or "" for c in chunks) == "Partial answer"

    server.enqueue(gemini_prompt_blocked())
    (chunk,) = stream(client)
    assert chunk.prompt_feedback.block_reason == types.BlockedReason.SAFETY


def test_stream_truncated_raises(server, client):
    server.enqueue(gemini_response("one two three four", abort_after=2))
    seen = []
    with pytest.raises(TRANSPORT_ERRORS):
        for chunk in client.models.generate_content_stream(model=MODEL, contents="x"):
            seen.append(chunk.text)
    assert seen == ["one ", "two "]


# --- errors ------------------------------------------------------------------------------
def test_rate_limited(server, client):
    server.enqueue(gemini_rate_limited("7s"))
    with pytest.raises(errors.ClientError) as info:
        generate(client)
    assert info.value.code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    assert info.value.details["error"]["details"][0]["retryDelay"] == "7s"


@pytest.mark.parametrize(("status", "exc"), [(500, errors.ServerError), (503, errors.ServerError),
                                             (400, errors.ClientError)])
def test_errors_json_and_stream(server, client, status, exc):
    server.enqueue(gemini_error(status, "boom"), gemini_error(status, "boom"))
    with pytest.raises(exc) as info:
        generate(client)
    assert info.value.code == status and info.value.message == "boom"
    with pytest.raises(exc):
        stream(client)


def test_retry_options_then_success(server, client, monkeypatch):
    server.enqueue(gemini_error(503))
    retrying = genai.Client(api_key="k", vertexai=False, http_options=types.HttpOptions(
        base_url=server.url,
        retry_options=types.HttpRetryOptions(attempts=2, initial_delay=0.01, max_delay=0.01,
                                             jitter=0)))
    assert generate(retrying).text == "Hello from the fake Gemini server."
    assert len(server.requests) == 2


# --- Vertex AI mode ----------------------------------------------------------------------
def test_vertex_express_mode(server, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    client = genai.Client(vertexai=True, api_key="test-key",
                          http_options=types.HttpOptions(base_url=server.url))
    assert generate(client).text == "Hello from the fake Gemini server."
    request = server.requests[-1]
    assert request.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == "test-key"


def test_vertex_project_mode_with_static_credentials(server):
    from google.oauth2.credentials import Credentials

    client = genai.Client(vertexai=True, project="proj", location="us-central1",
                          credentials=Credentials(token="test-token"),
                          http_options=types.HttpOptions(base_url=server.url))
    chunks = stream(client)
    assert "".join(c.text for c in chunks) == "Hello from the fake Gemini server."
    request = server.requests[-1]
    assert request.path == ("/v1beta1/projects/proj/locations/us-central1/publishers/google/"
                            f"models/{MODEL}:streamGenerateContent")
    assert request.headers["authorization"] == "Bearer test-token"


# --- async -------------------------------------------------------------------------------
async def test_async_generate_and_stream(server, client):
    server.enqueue(gemini_response([gemini_function_call("f", {"a": 1})],
                                   usage=GeminiUsage(3, 4)))
    response = await client.aio.models.generate_content(model=MODEL, contents="x")
    assert response.function_calls[0].args == {"a": 1}
    assert response.usage_metadata.total_token_count == 7

    server.enqueue(gemini_response("a b c", finish_reason="MAX_TOKENS"))
    chunks = [c async for c in await client.aio.models.generate_content_stream(
        model=MODEL, contents="x")]
    assert "".join(c.text for c in chunks) == "a b c"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


async def test_async_truncated_and_error(server, client):
    server.enqueue(gemini_response("one two three", abort_after=1))
    with pytest.raises(TRANSPORT_ERRORS):
        async for _ in await client.aio.models.generate_content_stream(model=MODEL,
                                                                       contents="x"):
            pass

    server.enqueue(gemini_rate_limited())
    with pytest.raises(errors.ClientError):
        await client.aio.models.generate_content(model=MODEL, contents="x")


# --- server helpers ----------------------------------------------------------------------
def test_client_helper_and_instance_model_versions(server):
    server.model_versions[MODEL] = "gemini-2.5-flash-001"
    server.enqueue(gemini_response("queued"))
    client = server.client()
    assert generate(client).model_version == "gemini-2.5-flash-001"
    assert stream(client)[-1].model_version == "gemini-2.5-flash-001"
    assert FakeGeminiServer.MODEL_VERSIONS.get(MODEL) is None  # class table untouched
    assert len(server.requests_to(":streamGenerateContent")) == 1
    assert server.last_request.query == {"alt": ["sse"]}
    vertex = server.client(vertexai=True)
    assert generate(vertex).text == "Hello from the fake Gemini server."
    assert server.last_request.path.startswith("/v1beta1/publishers/google/models/")
