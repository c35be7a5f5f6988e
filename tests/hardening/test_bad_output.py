"""Bad provider output: malformed JSON and SSE, property-based.

The fake server first answers one real SDK request with its normal reply, which is kept as
a template; hypothesis then serves mutations of it — fields missing, nulls, wrong types,
huge strings, invalid JSON, garbage SSE events, dropped events, streams cut off mid-way.
Content capture is on, so the message JSON and tool-call checks see the bad data too.
Each example runs the same body twice, with the instrumentor uninstrumented and
instrumented: the application must see exactly the same thing (the same value, or the same
exception type and message), and the instrumented run must have ended its span exactly once,
marked with the error the application saw (if any).

Examples are derandomized (the same examples every run, so CI cannot flake) and modest in
number; ``HARDENING_EXAMPLES=500 pytest tests/hardening/test_bad_output.py`` searches harder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import StatusCode

from hardening.harness import LLMEnv, Pipeline, instrumented, llm_params
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing import Reply, StreamReply

EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES", "15"))
HUGE = 20_000  # characters in a "huge string" (over the default content cap of 16384)


# --- what the application sees ----------------------------------------------------------

_VOLATILE = {"sdk_http_response", "ResponseMetadata", "date", "Date", "headers",
             "x-request-id", "request-id", "_request_id"}


def _plain(value: Any) -> Any:
    """A comparable form of an SDK return value (headers, dates and request ids dropped)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            value = dump(warnings=False)
        except Exception as exc:  # a model the SDK built but cannot dump: compare that
            return ("model_dump failed", type(exc).__name__)
    elif hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _outcome(body: Callable[[Any], Any], client: Any) -> tuple[Any, ...]:
    seen: list[Any] = []
    try:
        body(client, seen)
    except Exception as exc:
        # The fake server gives every response its own request id, which SDK error messages
        # quote: the same reply sent twice differs only there.
        return ("raised", type(exc).__qualname__, _REQUEST_ID.sub("req_…", str(exc)), seen)
    return ("returned", seen)


_REQUEST_ID = re.compile(r"req_fake[0-9a-f]+")


# --- surfaces: one SDK method and the body an application would run --------------------

@dataclass(frozen=True)
class Surface:
    name: str
    case: str  # the LLMCase name
    body: Callable[[Any, list[Any]], None]  # (client, seen) -> appends what it got
    stream: bool = False


def _collect(stream: Any, seen: list[Any]) -> None:
    for item in stream:
        seen.append(_plain(item))


_MSGS = [{"role": "user", "content": "tell me"}]

SURFACES = [
    Surface("chat", "openai", lambda c, seen: seen.append(_plain(
        c.chat.completions.create(model="gpt-4o-mini", messages=_MSGS)))),
    Surface("chat-stream", "openai", lambda c, seen: _collect(c.chat.completions.create(
        model="gpt-4o-mini", messages=_MSGS, stream=True,
        stream_options={"include_usage": True}), seen), stream=True),
    Surface("responses", "openai", lambda c, seen: seen.append(_plain(
        c.responses.create(model="gpt-4o-mini", input="tell me")))),
    Surface("responses-stream", "openai", lambda c, seen: _collect(c.responses.create(
        model="gpt-4o-mini", input="tell me", stream=True), seen), stream=True),
    Surface("embeddings", "openai", lambda c, seen: seen.append(_plain(
        c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])))),
    Surface("messages", "anthropic", lambda c, seen: seen.append(_plain(
        c.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=_MSGS)))),
    Surface("messages-stream", "anthropic", lambda c, seen: _collect(c.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=_MSGS, stream=True), seen),
        stream=True),
    Surface("generate", "google_genai", lambda c, seen: seen.append(_plain(
        c.models.generate_content(model="gemini-2.0-flash", contents="tell me")))),
    Surface("generate-stream", "google_genai", lambda c, seen: _collect(
        c.models.generate_content_stream(model="gemini-2.0-flash", contents="tell me"), seen),
        stream=True),
    Surface("converse", "bedrock", lambda c, seen: seen.append(_plain(c.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "tell me"}]}])))),
    Surface("converse-stream", "bedrock", lambda c, seen: _collect(c.converse_stream(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "tell me"}]}])["stream"], seen),
        stream=True),
]


def _params() -> list[Any]:
    cases = {p.id: p.values[0] for p in llm_params()}
    return [pytest.param(cases[s.case], s, id=f"{s.case}-{s.name}") for s in SURFACES]


# --- mutations ----------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.just("x" * HUGE),
)
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _apply(value: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        copy = dict(value)
        if rest:
            copy[head] = _apply(value[head], rest, action, new)
        elif action == "delete":
            del copy[head]
        else:
            copy[head] = new
        return copy
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        items = list(value)
        if rest:
            items[head] = _apply(value[head], rest, action, new)
        elif action == "delete":
            del items[head]
        else:
            items[head] = new
        return items
    return value


@st.composite
def mutated_json(draw: st.DrawFn, template: Any) -> Any:
    """``template`` with 1-3 of its fields deleted, nulled, retyped or made huge."""
    value = template
    paths = _paths(template)
    for _ in range(draw(st.integers(1, 3))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "null", "replace", "huge"]))
        new = {"null": None, "huge": "y" * HUGE}.get(action) if action != "replace" \
            else draw(_json)
        value = _apply(value, path, action, new)
    return value


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@st.composite
def bad_json_reply(draw: st.DrawFn, template: Reply) -> Reply:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "truncated", "not-json",
                                 "wrong-top-level"]))
    body = template.body
    if kind == "mutated":
        body = _json_body(draw(mutated_json(json.loads(body))))
    elif kind == "truncated":
        body = body[:draw(st.integers(0, max(0, len(body) - 1)))]
    elif kind == "not-json":
        body = draw(st.sampled_from([b"", b"null", b"<html>bad gateway</html>", b"\xff\xfe"]))
    else:
        body = _json_body(draw(_json))
    return dataclasses.replace(template, body=body)


def _mutate_sse_chunk(draw: st.DrawFn, chunk: bytes) -> bytes:
    lines = chunk.split(b"\n")
    out = []
    for line in lines:
        if line.startswith(b"data: ") and draw(st.integers(0, 3)) == 0:
            raw = line[len(b"data: "):]
            try:
                data = json.loads(raw)
            except ValueError:  # [DONE] and the like
                out.append(line)
                continue
            line = b"data: " + _json_body(draw(mutated_json(data)))
        out.append(line)
    return b"\n".join(out)


_GARBAGE = [b"data: {not json\n\n", b"data: null\n\n", b"data: 42\n\n", b"data: []\n\n",
            b"event: error\ndata: {}\n\n", b": keep-alive comment\n\n"]


@st.composite
def bad_stream_reply(draw: st.DrawFn, template: StreamReply, case: str) -> StreamReply:
    chunks = list(template.chunks)
    sse = template.content_type.startswith("text/event-stream")
    if sse:
        chunks = [_mutate_sse_chunk(draw, c) for c in chunks]
        if draw(st.booleans()):
            # google-genai raises on a line that is not "data:" (an event name, a comment) only
            # after 10-25 s, with or without instrumentation: left out there, for speed.
            garbage = draw(st.sampled_from(
                [g for g in _GARBAGE if g.startswith(b"data:")] if case == "google_genai"
                else _GARBAGE))
            chunks.insert(draw(st.integers(0, len(chunks))), garbage)
    if chunks and draw(st.booleans()):
        del chunks[draw(st.integers(0, len(chunks) - 1))]
    abort = draw(st.one_of(st.none(), st.integers(0, max(0, len(chunks) - 1))))
    return dataclasses.replace(template, chunks=chunks, abort_after=abort)


# --- the property -------------------------------------------------------------------------

def _template(env: LLMEnv, surface: Surface, client: Any) -> Reply | StreamReply:
    """The fake server's own reply to this surface's request."""
    captured: list[Reply | StreamReply] = []
    server = env.server

    def record(request: Any) -> Reply | StreamReply:
        reply = server.default_reply(request)
        if isinstance(reply, StreamReply):
            reply = dataclasses.replace(reply, chunks=list(reply.chunks))
        captured.append(reply)
        return reply

    server.enqueue(record)
    outcome = _outcome(surface.body, client)
    assert outcome[0] == "returned", outcome
    return captured[0]


@pytest.mark.parametrize(("case", "surface"), _params())
def test_malformed_output_reaches_the_app_as_without_instrumentation(
        case: Any, surface: Surface, pipeline: Pipeline) -> None:
    # Content capture on: the message-JSON and tool-call code paths see the bad data too.
    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
    with instrumented(case, pipeline) as env:
        client = env.client()
        template = _template(env, surface, client)
        strategy = bad_stream_reply(template, case.name) if isinstance(template, StreamReply) \
            else bad_json_reply(template)
        inst = env.instrumentor

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(reply=strategy)
        def check(reply: Reply | StreamReply) -> None:
            inst.uninstrument()
            try:
                env.server.enqueue(reply)
                plain = _outcome(surface.body, client)
            finally:
                inst.instrument(tracer_provider=pipeline.provider,
                                meter_provider=pipeline.meter_provider)
            pipeline.clear()
            env.server.enqueue(reply)
            traced = _outcome(surface.body, client)
            assert traced == plain
            [span] = env.llm_spans()  # ended, exactly once
            assert span.end_time is not None
            if traced[0] == "raised":
                assert span.status.status_code is StatusCode.ERROR
                assert (span.attributes or {}).get("error.type") == traced[1]
            else:
                assert span.status.status_code is not StatusCode.ERROR

        check()
