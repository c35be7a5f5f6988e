"""``tripwire.invalid_attributes`` names every key dropped on a span, at its start and at its
end: a response that drops another key does not hide what the request dropped (#18)."""

from __future__ import annotations

from typing import Any

from instrumentation.telemetry_env import instrumented
from tripwire import semconv
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply


def test_keys_dropped_at_start_and_at_end_are_all_named(default_settings: Any) -> None:
    with instrumented(OpenAIInstrumentor) as parts, FakeOpenAIServer() as server:
        # The response id is a number (dropped as the span ends) ...
        server.enqueue(chat_reply(content="ok", usage=(10, 2), id=12345))  # type: ignore[arg-type]
        client = server.client()
        # ... and the request's seed is beyond int64 (dropped as the span starts).
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], seed=2**70)
        [span] = parts["exporter"].get_finished_spans()
    invalid = span.attributes[semconv.TRIPWIRE_INVALID_ATTRIBUTES]
    assert set(invalid) == {semconv.GEN_AI_REQUEST_SEED, semconv.GEN_AI_RESPONSE_ID}
    assert semconv.GEN_AI_REQUEST_SEED not in span.attributes
    assert semconv.GEN_AI_RESPONSE_ID not in span.attributes
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10
