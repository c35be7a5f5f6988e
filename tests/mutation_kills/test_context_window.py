"""The context-window warning at its exact boundary (utilization == threshold warns), the
rounded utilization, the limit, and the metric point (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import pytest

from tripwire import semconv

from .conftest import Harness

GPT_4O_WINDOW = 128_000  # genai-prices' context window for gpt-4o


def _window(harness: Harness, input_tokens: int, model: str = "gpt-4o") -> dict:
    harness.exporter.clear()
    harness.llm(model, input_tokens=input_tokens)
    attrs = harness.span(f"chat {model}").attributes
    return {k: v for k, v in attrs.items() if k.startswith("tripwire.context_window")}


def test_utilization_equal_to_the_default_threshold_warns(harness: Harness) -> None:
    assert harness.settings().context_window_warning == 0.8
    assert _window(harness, 102_400) == {  # 102400 / 128000 == 0.8 exactly
        semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT: GPT_4O_WINDOW,
        semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION: 0.8,
        semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING: True}
    below = _window(harness, 102_399)
    assert below[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False
    assert below[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == 0.799992


@pytest.mark.parametrize(("threshold", "at"), [(0.5, 64_000), (0.25, 32_000), (1.0, 128_000)])
def test_utilization_equal_to_a_configured_threshold_warns(harness: Harness, threshold: float,
                                                           at: int) -> None:
    harness.settings(context_window_warning=threshold)
    assert _window(harness, at)[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is True
    assert _window(harness, at - 1)[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False
    assert _window(harness, at + 1)[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is True


def test_utilization_is_rounded_to_six_places_and_recorded_unrounded(harness: Harness) -> None:
    attrs = _window(harness, 1)  # 1 / 128000 = 7.8125e-06
    assert attrs[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == 8e-06
    assert attrs[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False
    [(point, (total, count))] = harness.points(semconv.METRIC_CONTEXT_WINDOW_UTILIZATION)
    assert count == 1 and total == 1 / GPT_4O_WINDOW
    assert point[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert point[semconv.GEN_AI_PROVIDER_NAME] == "openai"


def test_zero_input_tokens_is_zero_utilization(harness: Harness) -> None:
    assert _window(harness, 0) == {
        semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT: GPT_4O_WINDOW,
        semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION: 0.0,
        semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING: False}


def test_no_input_tokens_or_no_inference_records_nothing(harness: Harness) -> None:
    harness.llm("gpt-4o", input_tokens=None)
    harness.llm("text-embedding-3-small", operation="embeddings", input_tokens=500)
    for span in harness.spans():
        assert semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT not in span.attributes
    assert harness.points(semconv.METRIC_CONTEXT_WINDOW_UTILIZATION) == []
