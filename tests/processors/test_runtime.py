"""The process runtime owns settings and state: settings changes keep state, the budget gate
follows the processors that charge budgets, and a reset is explicit."""

from __future__ import annotations

import json

import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tripwire
from tripwire import semconv
from tripwire._core.precall import PreCallInfo
from tripwire.budgets import BudgetRule
from tripwire.errors import BudgetExceededError
from tripwire.processors import EnrichingSpanProcessor
from tripwire.processors.cost import CostEnricher
from tripwire.runtime import Runtime, get_runtime, replace_settings, reset
from tripwire.settings import BudgetMode

from .conftest import Harness

CONVERSATION = BudgetRule("per-conversation", "conversation")


def _budgets_file(tmp_path, usd: float) -> str:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": [
        {"name": "per-conversation", "scope": "conversation", "usd": usd}]}))
    return str(path)


def _in_conversation(conversation: str) -> context.Context:
    return baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, conversation)


def _gate(ctx: context.Context | None = None) -> None:
    runtime = get_runtime()
    reservation = runtime.before_call(PreCallInfo(
        "chat", "openai", "gpt-4o", ctx if ctx is not None else context.get_current()))
    if reservation is not None:
        runtime.release(reservation)


def _spend(harness: Harness, conversation: str, calls: int) -> None:
    token = context.attach(_in_conversation(conversation))
    try:
        for _ in range(calls):
            harness.llm("gpt-4o")  # $0.0035 each
    finally:
        context.detach(token)


def test_configure_keeps_the_ledger_and_the_drift_history(harness: Harness, tmp_path) -> None:
    """A settings change that does not touch the state's bounds keeps every account and the
    drift history (it used to wipe both)."""
    harness.settings(budgets_file=_budgets_file(tmp_path, 1.0))
    _spend(harness, "conv-1", 2)
    harness.llm("gpt-4o", response_model="gpt-4o-2024-08-06")
    runtime = get_runtime()
    assert runtime.ledger.spent((CONVERSATION, "conv-1"))[0] == pytest.approx(0.007)

    tripwire.configure(tracer_provider=harness.provider, span_processors=[],
                       feature="checkout", budgets_file=_budgets_file(tmp_path, 1.0))

    assert runtime.settings.feature == "checkout"
    assert runtime.ledger.spent((CONVERSATION, "conv-1"))[0] == pytest.approx(0.007)
    harness.llm("gpt-4o", response_model="gpt-4o-2024-11-20")  # the snapshot moved
    assert harness.spans()[-1].attributes.get(semconv.TRIPWIRE_MODEL_CHANGED) is True


def test_new_bounds_resize_the_tables_in_place(harness: Harness) -> None:
    harness.settings(state_max_entries=100)
    for i in range(10):
        harness.llm(f"gpt-4o-{i}", response_model=f"gpt-4o-{i}-2024-08-06")
    state = get_runtime().state
    assert len(state.drift) == 10
    replace_settings(state_max_entries=4)
    assert get_runtime().state is state  # the same tables, smaller
    assert len(state.drift) == 4
    assert state.drift.get(("openai", "gpt-4o-9")) == "gpt-4o-9-2024-08-06"  # newest kept
    assert state.drift.get(("openai", "gpt-4o-0")) is None


def test_budget_gate_is_attached_by_a_budget_processor_and_detached_at_shutdown(
        harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets_file(tmp_path, 0.005), budget_mode=BudgetMode.ENFORCE)
    _spend(harness, "conv-1", 2)  # $0.007 of $0.005
    ctx = _in_conversation("conv-1")
    with pytest.raises(BudgetExceededError) as refused:
        _gate(ctx)
    assert refused.value.budget == "per-conversation"

    harness.provider.shutdown()  # the only processor that charges budgets goes away
    # ... and the runtime's own accountant charges tripwire's calls from now on (issue 14):
    # the spending is kept and still enforced.
    assert get_runtime().processor_count == 0
    assert get_runtime().budget_gate_attached
    with pytest.raises(BudgetExceededError):
        _gate(ctx)


def test_a_processor_that_charges_no_budget_takes_the_gate_away() -> None:
    runtime = get_runtime()
    assert runtime.budget_gate_attached  # no processor: the runtime's accountant charges
    processor = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()),
                                       enrichers=[CostEnricher()])
    assert not runtime.budget_gate_attached  # the processor sees the spans, charges nothing
    processor.shutdown()
    assert runtime.budget_gate_attached


def test_a_processor_without_the_budget_enricher_attaches_no_gate() -> None:
    runtime = get_runtime()
    processor = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()),
                                       enrichers=[CostEnricher()])
    assert runtime.processor_count == 1
    assert not runtime.budget_gate_attached
    processor.shutdown()
    assert runtime.processor_count == 0


def test_a_failing_gate_lets_the_call_go_and_logs(harness: Harness, monkeypatch, caplog) -> None:
    from tripwire import runtime as runtime_module

    def broken(*args: object) -> None:
        raise RuntimeError("bug in the gate")

    harness.settings(budget_trace_usd=0.001, budget_mode=BudgetMode.ENFORCE)
    monkeypatch.setattr(runtime_module, "scopes_before_call", broken)
    _gate()  # no exception reaches the caller
    assert any("budget gate" in r.getMessage() for r in caplog.records)


def test_reset_forgets_everything(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets_file(tmp_path, 1.0), feature="f")
    _spend(harness, "conv-1", 1)
    runtime = get_runtime()
    assert runtime.ledger.spent((CONVERSATION, "conv-1"))[0] > 0
    reset()
    assert runtime.ledger.spent((CONVERSATION, "conv-1")) == (0.0, 0)
    assert runtime.settings.feature is None  # re-read from the (clean) environment
    assert runtime.processor_count == 0


def test_processors_on_their_own_runtime_share_nothing_with_the_process() -> None:
    own = Runtime()
    processor = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()), runtime=own)
    assert processor.runtime is own
    assert own.processor_count == 1 and own.budget_gate_attached
    assert get_runtime().processor_count == 0
    processor.shutdown()


def test_decorator_providers_are_kept_by_the_runtime_and_reset() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from tripwire import decorators

    provider = TracerProvider()
    decorators.configure(tracer_provider=provider)
    assert get_runtime().decorator_providers == (provider, None)
    reset()
    assert get_runtime().decorator_providers == (None, None)
    assert get_runtime().decorator_telemetry is None


def test_the_gate_is_consulted_only_in_enforce_mode(harness: Harness) -> None:
    runtime = get_runtime()
    assert runtime.budget_gate_attached  # the harness processor charges budgets
    harness.settings(budget_trace_usd=1.0)  # flag mode, the default
    assert not runtime.enforcing  # the wrapper builds no request info, reserves nothing
    harness.settings(budget_trace_usd=1.0, budget_mode=BudgetMode.ENFORCE)
    assert runtime.enforcing
    harness.provider.shutdown()
    assert runtime.enforcing  # the runtime's accountant charges budgets now
