"""Model drift, exactly: which names are pinned snapshots, how a provider's path-shaped
response name is reduced to the model, and what the span, event and metric say when the
snapshot behind a requested name changes (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import pytest

from tripwire import semconv
from tripwire.processors.drift import is_floating_alias, looks_pinned

from .conftest import Harness


@pytest.mark.parametrize(("model", "pinned"), [
    ("gpt-4o-2024-08-06", True), ("claude-3-haiku-20240307", True),
    ("claude-3-5-sonnet@20240620", True), ("gpt-4-0613", True), ("gemini-1.5-pro-002", True),
    ("anthropic.claude-3-haiku-20240307-v1:0", True), ("amazon.titan-text-v2", True),
    ("gemini-2.5-pro-preview-05-06", True), ("gemini-2.0-flash-exp-1206", True),
    ("gpt-4o", False), ("gemini-2.5-flash", False), ("claude-3-5-sonnet-latest", False),
    ("gpt-4-1300", False),  # not a month-day
])
def test_pinned_snapshot_names(model: str, pinned: bool) -> None:
    assert looks_pinned(model) is pinned


@pytest.mark.parametrize(("request_model", "response_model", "expected"), [
    # path-shaped response names (Vertex, Gemini): only the last segment is the model
    ("gemini-1.5-pro", "projects/p/locations/l/publishers/google/models/gemini-1.5-pro-002",
     True),
    ("gemini-1.5-pro", "publishers/google/models/gemini-1.5-pro", False),
    # a date in an earlier segment (a project id) is not the model's
    ("gemini-1.5-pro", "projects/proj-20240101/locations/l/publishers/google/models/"
     "gemini-1.5-pro", False),
    ("gemini-1.5-pro", "projects/proj-20240101/models/gemini-1.5-pro", False),
    ("gemini-2.5-flash", "models/gemini-2.5-flash", False),
    ("models/gemini-2.5-flash", "gemini-2.5-flash", False),
    ("GPT-4o", "gpt-4o", False),  # names compare case-insensitively
    ("gpt-4o", "gpt-4o-2024-08-06", True),
    ("gpt-4o", "gpt-4o-mini", False),  # another model, not a snapshot
    ("gpt-4o", "", None), ("gpt-4o", None, None),
    ("claude-3-5-sonnet-latest", None, True),  # "-latest" says so without a response
    ("claude-3-5-sonnet-20241022", None, False),
])
def test_floating_alias(request_model: str, response_model: str | None,
                        expected: bool | None) -> None:
    assert is_floating_alias(request_model, response_model) is expected


def _drift(harness: Harness, request: str, response: str | None,
           provider: str | None = "openai") -> dict:
    harness.exporter.clear()
    harness.llm(request, provider=provider, response_model=response)
    [span] = harness.spans()
    return {k: v for k, v in span.attributes.items() if k.startswith("tripwire.model")}


def test_the_snapshot_changing_behind_an_alias(harness: Harness) -> None:
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-08-06") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True}
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-08-06") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True, semconv.TRIPWIRE_MODEL_CHANGED: False}
    assert harness.points(semconv.METRIC_MODEL_CHANGES) == []
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-11-20") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True, semconv.TRIPWIRE_MODEL_CHANGED: True,
        semconv.TRIPWIRE_MODEL_PREVIOUS: "gpt-4o-2024-08-06"}
    [span] = harness.spans()
    [event] = span.events
    assert event.name == semconv.EVENT_MODEL_CHANGED
    assert event.timestamp == span.end_time
    assert dict(event.attributes) == {
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-11-20",
        semconv.TRIPWIRE_MODEL_PREVIOUS: "gpt-4o-2024-08-06"}
    [(point, value)] = harness.points(semconv.METRIC_MODEL_CHANGES)
    assert value == 1 and point == {
        semconv.GEN_AI_PROVIDER_NAME: "openai", semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-11-20"}
    # the new snapshot is now the one remembered
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-11-20")[
        semconv.TRIPWIRE_MODEL_CHANGED] is False
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-08-06")[
        semconv.TRIPWIRE_MODEL_PREVIOUS] == "gpt-4o-2024-11-20"


def test_a_name_that_is_not_an_alias_is_still_tracked(harness: Harness) -> None:
    # the response is not a snapshot of the request: not an alias, but a change is a change
    assert _drift(harness, "my-model", "my-model-a") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: False}
    assert _drift(harness, "my-model", "my-model-b") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: False, semconv.TRIPWIRE_MODEL_CHANGED: True,
        semconv.TRIPWIRE_MODEL_PREVIOUS: "my-model-a"}


def test_each_provider_and_request_name_has_its_own_history(harness: Harness) -> None:
    _drift(harness, "gpt-4o", "gpt-4o-2024-08-06")
    assert semconv.TRIPWIRE_MODEL_CHANGED not in _drift(
        harness, "gpt-4o", "gpt-4o-2024-05-13", provider="azure.ai.openai")
    assert semconv.TRIPWIRE_MODEL_CHANGED not in _drift(harness, "gpt-4o-mini",
                                                        "gpt-4o-mini-2024-07-18")
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-08-06")[
        semconv.TRIPWIRE_MODEL_CHANGED] is False


def test_without_a_response_model_only_a_known_alias_is_flagged(harness: Harness) -> None:
    from opentelemetry.trace import SpanKind

    def call(model: str) -> dict:
        harness.exporter.clear()
        with harness.tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT,
                                                  attributes={
                semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: model,
                semconv.GEN_AI_PROVIDER_NAME: "anthropic"}):
            pass
        [span] = harness.spans()
        return {k: v for k, v in span.attributes.items() if k.startswith("tripwire.model")}

    assert call("claude-3-5-sonnet-latest") == {semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True}
    assert call("claude-3-5-sonnet-20241022") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: False}
    assert call("claude-sonnet-4-5") == {}
    assert call("claude-sonnet-4-5") == {}  # nothing remembered without a response model


def test_embeddings_are_not_tracked(harness: Harness) -> None:
    harness.llm("text-embedding-3-small", operation="embeddings",
                response_model="text-embedding-3-small-2024")
    [span] = harness.spans()
    assert not [k for k in span.attributes if k.startswith("tripwire.model")]


def test_a_span_without_a_provider_has_a_history_of_its_own(harness: Harness) -> None:
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-08-06", provider=None) == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True}
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-11-20", provider=None) == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True, semconv.TRIPWIRE_MODEL_CHANGED: True,
        semconv.TRIPWIRE_MODEL_PREVIOUS: "gpt-4o-2024-08-06"}
    # a named provider's history is another one, in both directions
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-05-13") == {
        semconv.TRIPWIRE_MODEL_FLOATING_ALIAS: True}
    assert _drift(harness, "gpt-4o", "gpt-4o-2024-11-20", provider=None)[
        semconv.TRIPWIRE_MODEL_CHANGED] is False

