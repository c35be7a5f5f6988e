"""Tool-call errors and loops, exactly: names given as one string or a list, the loop
threshold's boundary and the one event per loop, the bound on one trace's remembered calls,
and the labels of each error point (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

from typing import Any

import pytest

from tripwire import semconv

from .conftest import Harness

KIND = semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND


def _tool(harness: Harness, name: str | None, args_hash: str | None = "h", *,
          arguments: str | None = None, error: str | None = None, **extra: Any) -> None:
    attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL, **extra}
    if name is not None:
        attrs[semconv.GEN_AI_TOOL_NAME] = name
    if args_hash is not None:
        attrs[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] = args_hash
    if arguments is not None:
        attrs[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments
    if error:
        attrs[semconv.ERROR_TYPE] = error
    with harness.tracer.start_as_current_span(f"execute_tool {name}", attributes=attrs):
        pass


def _errors(harness: Harness) -> list[tuple[dict[str, Any], Any]]:
    return sorted(harness.points(semconv.METRIC_TOOL_CALL_ERRORS),
                  key=lambda p: (p[0][KIND], p[0].get(semconv.GEN_AI_TOOL_NAME) or ""))


def _loop_flags(harness: Harness, name: str) -> list[tuple[Any, Any, int]]:
    return [(s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP),
             s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP_COUNT), len(s.events))
            for s in harness.spans() if s.name == f"execute_tool {name}"]


@pytest.mark.parametrize(("unknown", "invalid", "expected"), [
    ("made_up", "search", [("invalid_arguments", "search", 1), ("unknown_tool", None, 1)]),
    (("a", "b"), ("search", "fetch"), [("invalid_arguments", "fetch", 1),
                                       ("invalid_arguments", "search", 1),
                                       ("unknown_tool", None, 2)]),
    ("", "", []),  # an empty name is no name
    ((), (), []),
])
def test_requested_tool_errors_from_a_string_or_a_list(harness: Harness, unknown: Any,
                                                       invalid: Any, expected: list) -> None:
    harness.llm("gpt-4o", **{semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES: unknown,
                             semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS: invalid})
    got = [(p[KIND], p.get(semconv.GEN_AI_TOOL_NAME), v) for p, v in _errors(harness)]
    assert got == expected
    for point, _ in _errors(harness):  # an inference span labels its own errors
        assert point[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"
        assert point[semconv.GEN_AI_PROVIDER_NAME] == "openai"


def test_only_one_kind_of_requested_error_is_counted_too(harness: Harness) -> None:
    harness.llm("gpt-4o", **{semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS: ("search",)})
    harness.llm("gpt-4o", **{semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES: ("made_up",)})
    got = [(p[KIND], p.get(semconv.GEN_AI_TOOL_NAME), v) for p, v in _errors(harness)]
    assert got == [("invalid_arguments", "search", 1), ("unknown_tool", None, 1)]


def test_the_loop_threshold_is_reached_at_exactly_that_many_calls(harness: Harness) -> None:
    assert harness.settings(tool_loop_threshold=2).tool_loop_threshold == 2
    with harness.tracer.start_as_current_span("agent"):
        for _ in range(4):
            _tool(harness, "search", "abc")
    assert _loop_flags(harness, "search") == [(None, None, 0), (True, 2, 1), (True, 3, 0),
                                              (True, 4, 0)]
    [span] = [s for s in harness.spans() if s.attributes.get(
        semconv.TRIPWIRE_TOOL_LOOP_COUNT) == 2]
    [event] = span.events
    assert event.name == semconv.EVENT_TOOL_LOOP and event.timestamp == span.end_time
    assert dict(event.attributes) == {semconv.GEN_AI_TOOL_NAME: "search",
                                      semconv.TRIPWIRE_TOOL_LOOP_COUNT: 2}
    [(point, value)] = _errors(harness)
    assert value == 1 and point[KIND] == "loop" and point[semconv.GEN_AI_TOOL_NAME] == "search"


def test_other_arguments_or_another_trace_are_not_the_same_call(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        for args in ("a", "b", "a", "b", "a"):
            _tool(harness, "search", args)
    with harness.tracer.start_as_current_span("next request"):
        _tool(harness, "search", "a")
    flags = [f[:2] for f in _loop_flags(harness, "search")]
    assert flags == [(None, None)] * 4 + [(True, 3), (None, None)]


def test_a_tool_call_without_name_or_arguments_is_not_tracked(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        for _ in range(3):
            _tool(harness, None, "abc")
            _tool(harness, "", "abc")
            _tool(harness, "search", None)  # no hash and no captured arguments
            _tool(harness, "search", None, arguments=None, **{
                semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH: 42})  # not a hash
    assert not [s for s in harness.spans() if semconv.TRIPWIRE_TOOL_LOOP in s.attributes]
    assert _errors(harness) == []


def test_captured_arguments_stand_in_for_the_hash(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        for arguments in ('{"a": 1, "b": 2}', '{"b": 2, "a": 1}', '{"a":1,"b":2}'):
            _tool(harness, "lookup", None, arguments=arguments)
    assert [f[:2] for f in _loop_flags(harness, "lookup")] == [(None, None)] * 2 + [(True, 3)]


def test_one_trace_remembers_a_bounded_number_of_calls(harness: Harness) -> None:
    harness.settings(state_max_entries=3)
    with harness.tracer.start_as_current_span("agent"):
        _tool(harness, "search", "first")
        _tool(harness, "search", "first")
        for args in ("x", "y", "z"):  # the fourth distinct call forgets "first"
            _tool(harness, "search", args)
        _tool(harness, "search", "first")  # counted from 1 again: no loop
        _tool(harness, "search", "z")
        _tool(harness, "search", "z")  # "z" was kept: its third call is a loop
    flags = [f[:2] for f in _loop_flags(harness, "search")]
    assert flags == [(None, None)] * 7 + [(True, 3)]


def test_execution_errors_are_labelled_with_the_requesting_model(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        _tool(harness, "fetch", "x", error="TimeoutError")  # before any model: no model
        harness.llm("gpt-4o", response_model="gpt-4o-2024-08-06")
        _tool(harness, "fetch", "y", error="TimeoutError")
        _tool(harness, "fetch", "z", error="TimeoutError", **{
            semconv.GEN_AI_REQUEST_MODEL: "own-model"})  # the span's own value wins
        _tool(harness, None, "w", error="ValueError")  # no tool name: no name label
    points = [p for p, _ in harness.points(semconv.METRIC_TOOL_CALL_ERRORS)]
    labels = sorted((p.get(semconv.GEN_AI_TOOL_NAME) or "", p.get(semconv.GEN_AI_REQUEST_MODEL)
                     or "", p.get(semconv.GEN_AI_RESPONSE_MODEL) or "",
                     p.get(semconv.GEN_AI_PROVIDER_NAME) or "") for p in points)
    assert labels == [
        ("", "gpt-4o", "gpt-4o-2024-08-06", "openai"),
        ("fetch", "", "", ""),
        ("fetch", "gpt-4o", "gpt-4o-2024-08-06", "openai"),
        ("fetch", "own-model", "gpt-4o-2024-08-06", "openai"),
    ]
    assert sorted(v for _, v in harness.points(semconv.METRIC_TOOL_CALL_ERRORS)) == [1, 1, 1, 1]
    assert {p[KIND] for p in points} == {"execution_error"}


def test_different_captured_arguments_are_different_calls(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        for arguments in ('{"q": "a"}', '{"q": "b"}', '{"q": "c"}', '{"q": "a"}'):
            _tool(harness, "lookup", None, arguments=arguments)
    assert [f[:2] for f in _loop_flags(harness, "lookup")] == [(None, None)] * 4


def test_a_tool_name_that_is_not_text_is_not_a_label(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        for _ in range(3):
            _tool(harness, None, "abc", error="ValueError", **{semconv.GEN_AI_TOOL_NAME: 42})
    points = harness.points(semconv.METRIC_TOOL_CALL_ERRORS)
    assert [(p[KIND], p.get(semconv.GEN_AI_TOOL_NAME), v) for p, v in points] == [
        ("execution_error", None, 3)]
    assert not [s for s in harness.spans() if semconv.TRIPWIRE_TOOL_LOOP in s.attributes]


def _agent_run(harness: Harness, arguments: list[str]) -> None:
    with harness.tracer.start_as_current_span("invoke_agent researcher", attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: "researcher"}):
        harness.llm()
        for args in arguments:
            _tool(harness, "search", args)


def test_a_run_loop_is_flagged_at_exactly_the_threshold(harness: Harness) -> None:
    _agent_run(harness, ["a", "a", "a"])
    tools = [s for s in harness.spans() if s.name == "execute_tool search"]
    assert [t.attributes.get(semconv.TRIPWIRE_TOOL_LOOP_RUN_COUNT) for t in tools] == [
        None, None, 3]
    run = harness.span("invoke_agent researcher").attributes
    assert run[semconv.TRIPWIRE_AGENT_TOOL_LOOP] is True
    assert run[semconv.TRIPWIRE_AGENT_TOOL_LOOP_COUNT] == 3


def test_different_calls_in_a_run_are_no_run_loop(harness: Harness) -> None:
    _agent_run(harness, ["a", "b", "c", "d"])
    run = harness.span("invoke_agent researcher").attributes
    assert semconv.TRIPWIRE_AGENT_TOOL_LOOP not in run
    assert not [s for s in harness.spans()
                if semconv.TRIPWIRE_TOOL_LOOP_RUN_COUNT in s.attributes]


def test_outside_any_run_there_is_no_run_count(harness: Harness) -> None:
    harness.settings(tool_loop_threshold=1)
    with harness.tracer.start_as_current_span("job"):
        _tool(harness, "search", "a")
    [tool] = [s for s in harness.spans() if s.name == "execute_tool search"]
    assert tool.attributes[semconv.TRIPWIRE_TOOL_LOOP_COUNT] == 1
    assert semconv.TRIPWIRE_TOOL_LOOP_RUN_COUNT not in tool.attributes
