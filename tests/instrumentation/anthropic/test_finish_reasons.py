"""Every Anthropic stop_reason, non-streamed and streamed, through the real SDK: the span
keeps Anthropic's own value in gen_ai.response.finish_reasons, and the captured output
message carries the GenAI schema's finish_reason (max_tokens -> length, never stop)."""

from __future__ import annotations

import json

import pytest

from tripwire import semconv as sc
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing.anthropic_server import anthropic_message, anthropic_text

from .conftest import ARGS

# stop_reason -> the output-message schema's finish_reason, written out here (not imported
# from the code under test) so that a wrong entry in the code's table fails.
SCHEMA = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
    "some_future_reason": "some_future_reason",  # unknown values pass through
}


def _output_finish(env) -> str:
    [message] = json.loads(env.span().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    return message["finish_reason"]


@pytest.mark.parametrize(("stop_reason", "finish"), SCHEMA.items())
def test_every_stop_reason_in_the_output_message(env, stop_reason: str, finish: str) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(anthropic_message([anthropic_text("Lighthouses")],
                                         stop_reason=stop_reason))
    env.client().messages.create(**ARGS)
    assert env.span().attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (stop_reason,)
    assert _output_finish(env) == finish


@pytest.mark.parametrize(("stop_reason", "finish"), SCHEMA.items())
def test_every_stop_reason_in_the_streamed_output_message(env, stop_reason: str,
                                                          finish: str) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(anthropic_message([anthropic_text("Lighthouses")],
                                         stop_reason=stop_reason))
    with env.client().messages.stream(**ARGS) as stream:
        for _ in stream.text_stream:
            pass
    assert env.span().attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (stop_reason,)
    assert _output_finish(env) == finish


def test_a_cut_answer_is_length_in_events_too(env) -> None:
    # the content captured as events carries the same schema value as on the span
    replace_settings(capture_content=ContentCapture.EVENT_ONLY)
    env.server.enqueue(anthropic_message([anthropic_text("Lightho")], stop_reason="max_tokens"))
    env.client().messages.create(**ARGS)
    span = env.span()
    assert sc.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    outputs = [json.loads(e.attributes[sc.GEN_AI_OUTPUT_MESSAGES]) for e in span.events
               if sc.GEN_AI_OUTPUT_MESSAGES in (e.attributes or {})]
    assert [m["finish_reason"] for m in outputs[0]] == ["length"]
