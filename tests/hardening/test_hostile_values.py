"""Values OTLP cannot encode never reach the exporter: a lone surrogate in a model name, a
usage count beyond int64, a float that is not finite. Each is made safe or left out (and
flagged) while the rest of the span's telemetry is kept, for all four LLM providers — checked
with the OTLP exporters' own encoders, which fail the whole batch on any of them."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from hardening.harness import ANSWER, LLMEnv
from tripwire import semconv
from tripwire._core.fields import safe_attributes, safe_text

HOSTILE = "gpt-4o-\ud800"
HOSTILE_CALLS = {
    "openai": lambda c, model: c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "tell me \udfff"}]),
    "anthropic": lambda c, model: c.messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "tell me \udfff"}]),
    "google_genai": lambda c, model: c.models.generate_content(model=model,
                                                               contents="tell me \udfff"),
    "bedrock": lambda c, model: c.converse(
        modelId=model, messages=[{"role": "user", "content": [{"text": "tell me \udfff"}]}]),
}


def _encodable(env: LLMEnv) -> None:
    encode_spans(env.pipeline.spans()).SerializeToString()
    metrics = env.pipeline.reader.get_metrics_data()
    if metrics is not None:
        encode_metrics(metrics).SerializeToString()


def test_a_lone_surrogate_in_the_model_name_keeps_the_batch_encodable(llm: LLMEnv) -> None:
    from tripwire.runtime import replace_settings
    from tripwire.settings import ContentCapture

    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
    client = llm.client()
    llm.server.enqueue(llm.case.ok(ANSWER))
    with contextlib.suppress(Exception):  # an SDK may refuse the name; the span must encode
        HOSTILE_CALLS[llm.case.name](client, HOSTILE)
    [span] = llm.llm_spans()
    assert span.name.endswith(" gpt-4o-?")
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-?"
    _encodable(llm)


@pytest.mark.parametrize(("value", "kept"), [
    ("plain", "plain"), ("caf\u00e9", "caf\u00e9"), ("a\ud800b", "a?b"),
    (2**63 - 1, 2**63 - 1), (2**63, None), (-(2**63) - 1, None),
    (1.5, 1.5), (float("nan"), None), (float("inf"), None),
    (["a", "b\udc00"], ("a", "b?")), ([1, 2**64], None), (True, True),
])
def test_safe_attributes_keep_or_drop_each_value(value: Any, kept: Any) -> None:
    attributes = {"x": value, "other": 1}
    dropped = safe_attributes(attributes)
    assert attributes.get("x") == kept if kept is not None else "x" not in attributes
    assert dropped == ([] if kept is not None else ["x"])
    assert attributes["other"] == 1  # one bad value costs nothing else


def test_keys_are_made_safe_too() -> None:
    attributes = {"k\ud800": "v"}
    assert safe_attributes(attributes) == []
    assert attributes == {"k?": "v"}
    assert safe_text("ok") == "ok"


def test_tool_call_arguments_nested_past_any_real_use_cost_only_their_flag(
        pipeline: Any) -> None:
    """A tool call whose arguments nest 100,000 deep: flagged invalid, and the span keeps its
    usage, model and cost (it used to lose all response attributes to a RecursionError)."""
    from tripwire.instrumentation.openai import OpenAIInstrumentor
    from tripwire.testing import FakeOpenAIServer, chat_reply

    deep = "[" * 100_000 + "]" * 100_000
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    try:
        with FakeOpenAIServer() as server:
            server.enqueue(chat_reply(tool_calls=[("call_1", "lookup", deep)], usage=(12, 5)))
            answer = server.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                tools=[{"type": "function", "function": {
                    "name": "lookup", "parameters": {"type": "object"}}}])
    finally:
        inst.uninstrument()
    assert answer.choices[0].message.tool_calls[0].function.arguments == deep
    [span] = [s for s in pipeline.spans() if s.name == "chat gpt-4o-mini"]
    attrs = span.attributes
    assert attrs[semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("lookup",)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL].startswith("gpt-4o-mini")
    assert attrs[semconv.TRIPWIRE_COST_USD] > 0


def test_document_ids_pass_through_redaction_in_every_capture_mode() -> None:
    from tripwire._core.documents import Hit
    from tripwire._core.retrieval import retrieval_attributes
    from tripwire.runtime import replace_settings

    hits = [[Hit(id="jane.doe@example.com", score=0.9),
             Hit(id="doc-7", score=0.8)]]
    assert retrieval_attributes(hits, "similarity")[
        semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["jane.doe@example.com", "doc-7"]
    replace_settings(content_redaction=("email",))  # capture stays off
    assert retrieval_attributes(hits, "similarity")[
        semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["[REDACTED:email]", "doc-7"]


def test_a_chunk_with_a_number_for_text_keeps_the_streams_usage(pipeline: Any) -> None:
    """One streamed chunk whose delta.content is a number: skipped; the stream's usage,
    model and cost survive (they used to be lost with the whole result)."""
    from tripwire.instrumentation.openai import OpenAIInstrumentor
    from tripwire.testing import FakeOpenAIServer, StreamReply, sse_event

    def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
        return sse_event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                          "model": "gpt-4o-mini-2024-07-18",
                          "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                          **extra})

    body = [chunk({"role": "assistant", "content": "Hello"}), chunk({"content": 42}),
            chunk({"content": " there"}),
            sse_event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                       "model": "gpt-4o-mini-2024-07-18", "choices": [],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 3,
                                 "total_tokens": 12}}),
            b"data: [DONE]\n\n"]
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    try:
        with FakeOpenAIServer() as server:
            server.enqueue(StreamReply(body))
            stream = server.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
            received = [c.choices[0].delta.content for c in stream if c.choices]
    finally:
        inst.uninstrument()
    assert received == ["Hello", 42, " there"]  # the application sees what was sent
    [span] = [s for s in pipeline.spans() if s.name == "chat gpt-4o-mini"]
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert span.attributes[semconv.TRIPWIRE_COST_USD] > 0
