"""One hostile field costs only that field, for every LLM provider and every response shape.

The fake server first answers each surface's request with its normal reply (the template);
then every field of that reply — every key of the JSON body, of every event of a stream —
is replaced in turn by each hostile value: a number where text is expected, text where a
count is, a list where an object is, an object where a list is, null, an object nested
100,000 deep (and one 600 deep, which the SDKs' JSON parsers accept), a lone surrogate, an
integer beyond int64, NaN. Through the real SDK, uninstrumented then instrumented:

- the application sees exactly the same thing (value, or exception type and message);
- when the SDK itself rejects the shape (pydantic, its JSON parser), its exception reaches
  the application unchanged and the span records it (ended once, ``error.type``);
- otherwise every span attribute the hostile field does not feed — response model and id,
  finish reasons, each token count, the cost — is exactly what the unmodified reply gave;
  an attribute the field does feed is either gone (flagged in
  ``tripwire.invalid_attributes`` / ``tripwire.usage.invalid`` when a value was there but
  unusable) or a value of its proper type; and the span encodes with the OTLP encoder.

Content capture is on (SPAN_AND_EVENT), so the message JSON and the tool-call checks read
every hostile field as well. Bedrock is covered by the property-based
``tests/hardening/test_bad_output.py`` and its own suite.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import StatusCode

from hardening.harness import LLMEnv, Pipeline, instrumented, llm_params
from hardening.test_bad_output import _outcome, _plain, _template
from tripwire import semconv as sc
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing import Reply, StreamReply

# --- hostile values ---------------------------------------------------------------------

# JSON text that json.dumps cannot produce: spliced in where its placeholder stands.
_RAW = {
    "@deep-100000@": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "@deep-600@": "[" * 600 + "]" * 600,
    "@nan@": "NaN",
}
HOSTILE: dict[str, Any] = {
    "number": 42,
    "text": "12",
    "list": [1],
    "object": {"k": "v"},
    "null": None,
    "deep": "@deep-100000@",
    "deep-600": "@deep-600@",
    "surrogate": "x\ud800",
    "huge-int": 2**70,
    "nan": "@nan@",
}


# A field no attribute is read from gets these only (it must break nothing else); the
# fields attributes are read from get every value.
QUICK = ("number", "object", "null", "deep-600")


def _dumps(payload: Any) -> bytes:
    text = json.dumps(payload)
    for marker, raw in _RAW.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode()


# --- surfaces -------------------------------------------------------------------------------

_MSGS = [{"role": "user", "content": "tell me"}]
_TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def _seen(value: Any) -> Any:
    """What the application got, comparable (a value nested past Python's recursion limit is
    compared by its type: walking it is the test's problem, not the app's)."""
    try:
        return _plain(value)
    except RecursionError:
        return ("too deep to compare", type(value).__qualname__)


def _collect(stream: Any, seen: list[Any]) -> None:
    for item in stream:
        seen.append(_seen(item))


@dataclass(frozen=True)
class Surface:
    name: str
    case: str
    body: Callable[[Any, list[Any]], None]
    # span attribute -> the reply fields it is read from ("*": any key or index; a stream's
    # paths start with the event's index)
    sources: dict[str, tuple[tuple[Any, ...], ...]]
    template: Callable[[Any], Any] | None = None  # a scripted reply instead of the default
    # fields that decide whether an attribute is there (a status, an event's type) rather
    # than hold its value: one that is not understood leaves the attribute out, unflagged
    deciding: tuple[tuple[Any, ...], ...] = ()


_TOKEN_KEYS = (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS)
_CHAT_USAGE = {
    sc.GEN_AI_USAGE_INPUT_TOKENS: (("usage", "prompt_tokens"),),
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("usage", "completion_tokens"),),
}


def _prefixed(sources: dict[str, tuple[tuple[Any, ...], ...]]
              ) -> dict[str, tuple[tuple[Any, ...], ...]]:
    return {key: tuple(("*", *path) for path in paths) for key, paths in sources.items()}


def _openai_tool_reply(server: Any) -> Any:
    from tripwire.testing import chat_reply

    return chat_reply("sure", tool_calls=[("call_1", "f", '{"a": 1}')], usage=(7, 5))


SURFACES = [
    Surface("chat", "openai", lambda c, seen: seen.append(_seen(c.chat.completions.create(
        model="gpt-4o-mini", messages=_MSGS, tools=_TOOLS))), {
        sc.GEN_AI_RESPONSE_ID: (("id",),),
        sc.GEN_AI_RESPONSE_MODEL: (("model",),),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: (("choices", "*", "finish_reason"),),
        **_CHAT_USAGE}, template=_openai_tool_reply),
    Surface("chat-stream", "openai", lambda c, seen: _collect(c.chat.completions.create(
        model="gpt-4o-mini", messages=_MSGS, stream=True,
        stream_options={"include_usage": True}), seen), _prefixed({
            sc.GEN_AI_RESPONSE_ID: (("id",),),
            sc.GEN_AI_RESPONSE_MODEL: (("model",),),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (("choices", "*", "finish_reason"),),
            **_CHAT_USAGE})),
    Surface("responses", "openai", lambda c, seen: seen.append(_seen(c.responses.create(
        model="gpt-4o-mini", input="tell me"))), {
        sc.GEN_AI_RESPONSE_ID: (("id",),),
        sc.GEN_AI_RESPONSE_MODEL: (("model",),),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: (("status",), ("incomplete_details",),
                                            ("output",)),
        sc.GEN_AI_USAGE_INPUT_TOKENS: (("usage", "input_tokens"),),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("usage", "output_tokens"),)},
        deciding=(("status",),)),
    Surface("responses-stream", "openai", lambda c, seen: _collect(c.responses.create(
        model="gpt-4o-mini", input="tell me", stream=True), seen), _prefixed({
            sc.GEN_AI_RESPONSE_ID: (("response", "id"),),
            sc.GEN_AI_RESPONSE_MODEL: (("response", "model"),),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (("response", "status"),
                                                ("response", "incomplete_details"),
                                                ("response", "output"),),
            sc.GEN_AI_USAGE_INPUT_TOKENS: (("response", "usage", "input_tokens"),),
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("response", "usage", "output_tokens"),)}),
        deciding=(("*", "response", "status"),)),
    Surface("embeddings", "openai", lambda c, seen: seen.append(_seen(c.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"]))), {
        sc.GEN_AI_RESPONSE_MODEL: (("model",),),
        sc.GEN_AI_USAGE_INPUT_TOKENS: (("usage", "prompt_tokens"),)}),
    Surface("messages", "anthropic", lambda c, seen: seen.append(_seen(c.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=_MSGS))), {
        sc.GEN_AI_RESPONSE_ID: (("id",),),
        sc.GEN_AI_RESPONSE_MODEL: (("model",),),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: (("stop_reason",),),
        sc.GEN_AI_USAGE_INPUT_TOKENS: (("usage", "input_tokens"),
                                       ("usage", "cache_read_input_tokens"),
                                       ("usage", "cache_creation_input_tokens")),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("usage", "output_tokens"),)}),
    Surface("messages-stream", "anthropic", lambda c, seen: _collect(c.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=_MSGS, stream=True), seen),
        _prefixed({
            sc.GEN_AI_RESPONSE_ID: (("message", "id"),),
            sc.GEN_AI_RESPONSE_MODEL: (("message", "model"),),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (("delta", "stop_reason"),),
            sc.GEN_AI_USAGE_INPUT_TOKENS: (("message", "usage"), ("usage", "input_tokens"),
                                           ("usage", "cache_read_input_tokens"),
                                           ("usage", "cache_creation_input_tokens")),
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("message", "usage"),
                                            ("usage", "output_tokens"))})),
    Surface("generate", "google_genai", lambda c, seen: seen.append(_seen(
        c.models.generate_content(model="gemini-2.0-flash", contents="tell me"))), {
        sc.GEN_AI_RESPONSE_ID: (("responseId",),),
        sc.GEN_AI_RESPONSE_MODEL: (("modelVersion",),),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: (("candidates", "*", "finishReason"),),
        sc.GEN_AI_USAGE_INPUT_TOKENS: (("usageMetadata", "promptTokenCount"),),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("usageMetadata", "candidatesTokenCount"),
                                        ("candidates",))}),
    Surface("generate-stream", "google_genai", lambda c, seen: _collect(
        c.models.generate_content_stream(model="gemini-2.0-flash", contents="tell me"), seen),
        _prefixed({
            sc.GEN_AI_RESPONSE_ID: (("responseId",),),
            sc.GEN_AI_RESPONSE_MODEL: (("modelVersion",),),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (("candidates", "*", "finishReason"),),
            sc.GEN_AI_USAGE_INPUT_TOKENS: (("usageMetadata", "promptTokenCount"),
                                           ("responseId",)),
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: (("usageMetadata", "candidatesTokenCount"),
                                            ("candidates",), ("responseId",))})),
]
def _usage_object(path: tuple[Any, ...]) -> tuple[Any, ...]:
    """The object a count is read from (``usage``), or the field itself at the top level."""
    parent = path[:-1]
    return parent if len(parent) > (path[0] == "*") else path


# The cost follows the model and every count of the usage (cache reads are priced apart).
for _surface in SURFACES:
    _surface.sources[sc.TRIPWIRE_COST_USD] = (
        *_surface.sources[sc.GEN_AI_RESPONSE_MODEL],
        *(_usage_object(path) for key in _TOKEN_KEYS for path in _surface.sources.get(key, ())))
# A stream event's type says what it carries: every attribute depends on it.
for _surface in SURFACES:
    if _surface.sources[sc.GEN_AI_RESPONSE_MODEL][0][0] == "*":
        for _key, _paths_of in list(_surface.sources.items()):
            _surface.sources[_key] = (*_paths_of, ("*", "type"))
        object.__setattr__(_surface, "deciding", (*_surface.deciding, ("*", "type")))


# --- the reply, one field at a time -------------------------------------------------------

def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _sse_events(chunk: bytes) -> tuple[list[bytes], Any]:
    """(the lines of one SSE event, its JSON data or None)."""
    lines = chunk.split(b"\n")
    for line in lines:
        if line.startswith(b"data: "):
            try:
                return lines, json.loads(line[len(b"data: "):])
            except ValueError:
                return lines, None
    return lines, None


def _with_data(chunk: bytes, data: bytes) -> bytes:
    return b"\n".join(b"data: " + data if line.startswith(b"data: ") else line
                      for line in chunk.split(b"\n"))


def _reply_with(template: Reply | StreamReply, path: tuple[Any, ...], value: Any
                ) -> Reply | StreamReply:
    if isinstance(template, Reply):
        body = json.loads(template.body)
        return dataclasses.replace(template, body=_dumps(_replace(body, path, value)))
    index, rest = path[0], path[1:]
    chunks = list(template.chunks)
    _, data = _sse_events(chunks[index])
    chunks[index] = _with_data(chunks[index], _dumps(_replace(data, rest, value)))
    return dataclasses.replace(template, chunks=chunks)


def _shape(data: Any) -> tuple[Any, ...]:
    """The fields of an event and the JSON type of each: events of one shape (a stream's many
    text deltas) are read by the same code, so one of them is mutated."""
    return tuple((path, type(_get(data, path)).__name__) for path in _paths(data))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _all_paths(template: Reply | StreamReply) -> list[tuple[Any, ...]]:
    if isinstance(template, Reply):
        return list(_paths(json.loads(template.body)))
    out: list[tuple[Any, ...]] = []
    shapes = set()
    for index, chunk in enumerate(template.chunks):
        _, data = _sse_events(chunk)
        shape = _shape(data)
        if shape not in shapes:
            shapes.add(shape)
            out.extend((index, *path) for path in _paths(data))
    return out


def _feeds(path: tuple[Any, ...], sources: tuple[tuple[Any, ...], ...]) -> bool:
    """Whether the field at ``path`` is (inside, or contains) one of ``sources``."""
    return any(all(s == "*" or s == p for s, p in zip(source, path)) for source in sources)


# --- the check ------------------------------------------------------------------------------


def _proper(key: str, value: Any) -> bool:
    if key in _TOKEN_KEYS:
        return type(value) is int and 0 <= value <= 10**9
    if key == sc.TRIPWIRE_COST_USD:
        return isinstance(value, float) and math.isfinite(value) and value >= 0
    if key == sc.GEN_AI_RESPONSE_FINISH_REASONS:
        return isinstance(value, tuple) and all(type(v) is str for v in value)
    return type(value) is str


def _params() -> list[Any]:
    cases = {p.id: p.values[0] for p in llm_params()}
    return [pytest.param(cases[s.case], s, id=f"{s.case}-{s.name}") for s in SURFACES]


def _run(env: LLMEnv, surface: Surface, client: Any, reply: Reply | StreamReply
         ) -> tuple[tuple[Any, ...], tuple[Any, ...], Any]:
    """(without instrumentation, with it, the call's span)."""
    pipeline = env.pipeline
    env.instrumentor.uninstrument()
    try:
        env.server.enqueue(reply)
        plain = _outcome(surface.body, client)
    finally:
        env.instrumentor.instrument(tracer_provider=pipeline.provider,
                                    meter_provider=pipeline.meter_provider)
    pipeline.clear()
    env.server.enqueue(reply)
    traced = _outcome(surface.body, client)
    [span] = env.llm_spans()
    return plain, traced, span


@pytest.mark.parametrize(("case", "surface"), _params())
def test_one_hostile_field_costs_only_that_field(case: Any, surface: Surface,
                                                  pipeline: Pipeline) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
    with instrumented(case, pipeline) as env:
        client = env.client()
        if surface.template is not None:
            env.server.enqueue(surface.template(env.server))
            captured: list[Any] = []
            real = env.server.render_queued

            def record(queued: Any, request: Any) -> Any:
                reply = real(queued, request)
                captured.append(reply)
                return reply

            env.server.render_queued = record  # type: ignore[method-assign]
            _outcome(surface.body, client)
            env.server.render_queued = real  # type: ignore[method-assign]
            template = captured[0]
        else:
            template = _template(env, surface, client)
        pipeline.clear()
        _, baseline_outcome, baseline = _run(env, surface, client, template)
        assert baseline_outcome[0] == "returned", baseline_outcome
        expected = {key: baseline.attributes.get(key) for key in surface.sources}
        assert all(value is not None for value in expected.values()), expected
        problems: list[str] = []
        for path in _all_paths(template):
            feeds = any(_feeds(path, paths) for paths in surface.sources.values())
            for name, value in HOSTILE.items():
                if not feeds and name not in QUICK:
                    continue
                reply = _reply_with(template, path, value)
                plain, traced, span = _run(env, surface, client, reply)
                where = f"{'.'.join(map(str, path))}={name}"
                problems.extend(f"{where}: {p}" for p in _check(
                    surface, path, value, expected, plain, traced, span))
        assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


def _check(surface: Surface, path: tuple[Any, ...], value: Any, expected: dict[str, Any],
           plain: tuple[Any, ...], traced: tuple[Any, ...], span: Any) -> list[str]:
    if traced != plain:
        return [f"the app saw {traced[:3]!r}, without instrumentation {plain[:3]!r}"]
    if span.end_time is None:
        return ["span not ended"]
    try:
        encode_spans([span]).SerializeToString()
    except Exception as exc:
        return [f"span cannot be encoded: {exc!r}"]
    attrs = dict(span.attributes or {})
    if traced[0] == "raised":
        if span.status.status_code is not StatusCode.ERROR or attrs.get("error.type") != \
                traced[1]:
            return [f"SDK raised {traced[1]} but span says {attrs.get('error.type')}"]
        return []
    problems = []
    flagged = set(attrs.get(sc.TRIPWIRE_INVALID_ATTRIBUTES, ()))
    for key, want in expected.items():
        got = attrs.get(key)
        if not _feeds(path, surface.sources[key]):
            if got != want:
                problems.append(f"{key} lost: {got!r} != {want!r}")
        elif got is not None and not _proper(key, got):
            problems.append(f"{key} kept an improper value {got!r}")
        elif (got is None and value is not None and key != sc.TRIPWIRE_COST_USD
              and _is_source(path, surface.sources[key])
              and not _is_source(path, surface.deciding)):
            # the field itself was there but unusable: the span says so
            flag = attrs.get(sc.TRIPWIRE_USAGE_INVALID) if key in _TOKEN_KEYS \
                else key in flagged
            if not flag:
                problems.append(f"{key} dropped without a flag")
    return problems


def _is_source(path: tuple[Any, ...], sources: tuple[tuple[Any, ...], ...]) -> bool:
    """Whether ``path`` is exactly one of ``sources`` (not a container of one)."""
    return any(len(source) == len(path) and _feeds(path, (source,)) for source in sources)
