"""Tool-call errors recorded on ``execute_tool`` spans (failed executions, loops) carry the
provider and model that asked for the tool, so dashboards and alerts filtering by provider or
model (``gen_ai_provider_name=~"$provider"``) keep them (issue #19)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from tripwire import semconv

from .conftest import Harness

KIND = semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND


def _tool(harness: Harness, name: str, args_hash: str, *, error: str | None = None,
          **extra: Any) -> None:
    attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                             semconv.GEN_AI_TOOL_NAME: name,
                             semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH: args_hash, **extra}
    if error:
        attrs[semconv.ERROR_TYPE] = error
    with harness.tracer.start_as_current_span(f"execute_tool {name}", kind=SpanKind.INTERNAL,
                                              attributes=attrs):
        pass


def _errors(harness: Harness) -> dict[tuple[Any, Any], dict[str, Any]]:
    """(kind, tool) -> attributes of its tool_call.errors point."""
    out = {}
    for attrs, value in harness.points(semconv.METRIC_TOOL_CALL_ERRORS):
        key = (attrs[KIND], attrs.get(semconv.GEN_AI_TOOL_NAME))
        assert key not in out, key
        assert value == 1, (key, value)
        out[key] = attrs
    return out


def _model(attrs: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (attrs.get(semconv.GEN_AI_PROVIDER_NAME), attrs.get(semconv.GEN_AI_REQUEST_MODEL),
            attrs.get(semconv.GEN_AI_RESPONSE_MODEL))


def test_execution_errors_and_loops_carry_the_requesting_model(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        harness.llm("gpt-4o", response_model="gpt-4o-2024-08-06",
                    **{semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES: ("made_up",)})
        for _ in range(3):  # the default loop threshold
            _tool(harness, "search", "h1")
        _tool(harness, "fetch", "h2", error="TimeoutError")
        # the next turn is answered by another model: its tools are attributed to it
        harness.llm("claude-sonnet-4", provider="anthropic",
                    response_model="claude-sonnet-4-20250514")
        _tool(harness, "lookup", "h3", error="KeyError")
    with harness.tracer.start_as_current_span("next request"):  # no LLM call in this trace
        _tool(harness, "store", "h4", error="IOError")
    errors = _errors(harness)
    assert set(errors) == {("unknown_tool", None), ("loop", "search"),
                           ("execution_error", "fetch"), ("execution_error", "lookup"),
                           ("execution_error", "store")}
    # asked for by the model: the inference span's own labels, as before
    assert _model(errors[("unknown_tool", None)]) == ("openai", "gpt-4o", "gpt-4o-2024-08-06")
    assert _model(errors[("loop", "search")]) == ("openai", "gpt-4o", "gpt-4o-2024-08-06")
    assert _model(errors[("execution_error", "fetch")]) == (
        "openai", "gpt-4o", "gpt-4o-2024-08-06")
    assert _model(errors[("execution_error", "lookup")]) == (
        "anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514")
    # no model in that trace, and none borrowed from another one
    assert _model(errors[("execution_error", "store")]) == (None, None, None)
    for key, attrs in errors.items():
        if key[0] != "unknown_tool":
            assert attrs[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_EXECUTE_TOOL
    # the spans themselves are not changed: the labels are the metric's only
    fetch = harness.span("execute_tool fetch")
    assert semconv.GEN_AI_REQUEST_MODEL not in (fetch.attributes or {})


def test_the_tool_span_own_model_wins(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        harness.llm("gpt-4o")
        _tool(harness, "fetch", "h", error="TimeoutError",
              **{semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"})
    (attrs,) = _errors(harness).values()
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
