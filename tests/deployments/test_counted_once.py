"""One provider call is charged once, whatever emitted its spans (issue 14): two instrumentors
of one SDK (ours and the official openai-v2, in either order), a framework's own span around
a client span, agent spans carrying aggregate usage; and ``tripwire.budget()`` without the
processor.

Real openai SDK against the fake server; the official instrumentor is the real package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import tripwire
from tripwire import semconv
from tripwire.errors import BudgetExceededError
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.settings import BudgetMode
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

openai_v2 = pytest.importorskip(
    "opentelemetry.instrumentation.openai_v2",
    reason="needs opentelemetry-instrumentation-openai-v2 (test extra)")

SNAPSHOT = "gpt-4o-mini-2024-07-18"


def _price(inp: int, out: int, model: str = SNAPSHOT) -> float:
    return float(calc_price(Usage(input_tokens=inp, output_tokens=out), model,
                            provider_id="openai").total_price)


class Pipe:
    def __init__(self, processor: bool = True) -> None:
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.provider = TracerProvider()
        if processor:
            self.provider.add_span_processor(EnrichingSpanProcessor(
                SimpleSpanProcessor(self.exporter), meter_provider=self.meter_provider))
        else:
            self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("app")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def chat_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans()
                if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"]

    def metric_sum(self, name: str) -> float:
        data = self.reader.get_metrics_data()
        return sum(p.value for rm in (data.resource_metrics if data else ())
                   for sm in rm.scope_metrics for m in sm.metrics if m.name == name
                   for p in m.data.data_points)


@contextmanager
def ours_alone() -> Iterator[Pipe]:
    """Our OpenAI instrumentor on a provider with no enrichment processor."""
    pipe = Pipe(processor=False)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=pipe.provider)
    try:
        yield pipe
    finally:
        instrumentor.uninstrument()


def _one_call(server: FakeOpenAIServer) -> None:
    server.enqueue(chat_reply(content="a", usage=(1000, 100)))
    server.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def _instrument_both(pipe: Pipe, ours_first: bool) -> list[Any]:
    ours, theirs = OpenAIInstrumentor(), openai_v2.OpenAIInstrumentor()
    order = [ours, theirs] if ours_first else [theirs, ours]
    for instrumentor in order:  # the last one wraps the others: its span is the outer one
        instrumentor.instrument(tracer_provider=pipe.provider,
                                meter_provider=pipe.meter_provider)
    return order


@pytest.mark.parametrize("ours_first", [True, False], ids=["official-outside", "ours-outside"])
def test_two_instrumentors_two_spans_one_charge(server: FakeOpenAIServer, ours_first: bool,
                                                default_settings: Any, tmp_path: Any) -> None:
    pipe = Pipe()
    order = _instrument_both(pipe, ours_first)
    try:
        client = server.client()
        server.enqueue(chat_reply(content="Paris", usage=(1200, 30)),
                       chat_reply(content="Rome", usage=(800, 10)))
        with tripwire.budget(usd=10.0) as block, \
                pipe.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            for _ in range(2):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital?"}])
    finally:
        for instrumentor in reversed(order):  # outermost first
            instrumentor.uninstrument()
    expected = _price(1200, 30) + _price(800, 10)
    chats = pipe.chat_spans()
    assert len(chats) == 4  # both instrumentors' spans are kept (the processor only counts)
    counted = [s for s in chats if semconv.TRIPWIRE_DUPLICATE_OF not in s.attributes]
    duplicates = [s for s in chats if semconv.TRIPWIRE_DUPLICATE_OF in s.attributes]
    assert len(counted) == 2 and len(duplicates) == 2
    inner_ids = {format(s.context.span_id, "016x") for s in counted}
    for span in duplicates:  # the outer span points at the nested one that was counted
        assert span.attributes[semconv.TRIPWIRE_DUPLICATE_OF] in inner_ids
        assert format(span.context.span_id, "016x") not in inner_ids
        assert semconv.TRIPWIRE_COST_USD not in span.attributes
        inner = next(s for s in counted
                     if format(s.context.span_id, "016x")
                     == span.attributes[semconv.TRIPWIRE_DUPLICATE_OF])
        assert inner.parent is not None and inner.parent.span_id == span.context.span_id
    assert sum(s.attributes[semconv.TRIPWIRE_COST_USD] for s in counted) == pytest.approx(
        expected)
    assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(expected)
    assert block.spent_usd == pytest.approx(expected)
    root = next(s for s in pipe.spans() if s.name == "POST /ask")
    assert root.attributes[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 2
    assert root.attributes[semconv.TRIPWIRE_TRACE_COST_USD] == pytest.approx(expected)


@pytest.mark.parametrize("ours_first", [False, True], ids=["ours-outside", "official-outside"])
def test_an_enforced_budget_is_reserved_once_and_settled_once_under_two_instrumentors(
        server: FakeOpenAIServer, use_settings: Any, ours_first: bool) -> None:
    """Ours outside (it reserves, the official span inside is counted: the reservation becomes
    the nested span's real cost), or ours inside (it reserves and is counted itself): either
    way nothing stays reserved."""
    use_settings(budget_mode=BudgetMode.ENFORCE, budget_output_estimate=1)
    pipe = Pipe()
    order = _instrument_both(pipe, ours_first=ours_first)
    try:
        client = server.client()
        limit = _price(1000, 100) * 2.5
        with tripwire.budget(usd=limit) as block:
            outcomes = []
            for _ in range(4):
                server.enqueue(chat_reply(content="ok", usage=(1000, 100)))
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
                    outcomes.append("sent")
                except BudgetExceededError:
                    outcomes.append("refused")
            committed = block.account.committed()[0]
    finally:
        for instrumentor in reversed(order):  # outermost first
            instrumentor.uninstrument()
    assert outcomes == ["sent", "sent", "sent", "refused"]
    assert block.spent_usd == pytest.approx(_price(1000, 100) * 3)
    assert committed == pytest.approx(block.spent_usd)  # no reservation left behind


def test_a_framework_span_around_a_client_span_is_counted_once(
        server: FakeOpenAIServer, default_settings: Any) -> None:
    """A framework that writes its own GenAI span (with usage) around the SDK call, which our
    instrumentor records too: one charge, on the nested client span."""
    pipe = Pipe()
    ours = OpenAIInstrumentor()
    ours.instrument(tracer_provider=pipe.provider, meter_provider=pipe.meter_provider)
    try:
        server.enqueue(chat_reply(content="ok", usage=(500, 50)))
        client = server.client()
        with pipe.tracer.start_as_current_span(
                "chat gpt-4o-mini", kind=SpanKind.INTERNAL,
                attributes={semconv.GEN_AI_OPERATION_NAME: "chat",
                            semconv.GEN_AI_PROVIDER_NAME: "openai",
                            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"}) as framework:
            with pipe.tracer.start_as_current_span("retry attempt 1"):  # not a GenAI span
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            framework.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 500)
            framework.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 50)
            framework.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, SNAPSHOT)
    finally:
        ours.uninstrument()
    outer = next(s for s in pipe.chat_spans() if s.instrumentation_scope.name == "app")
    inner = next(s for s in pipe.chat_spans() if s is not outer)
    assert outer.attributes[semconv.TRIPWIRE_DUPLICATE_OF] == format(inner.context.span_id,
                                                                     "016x")
    assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(_price(500, 50))
    assert outer.attributes[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 1  # the local root's rollup


def test_a_nested_span_without_usage_leaves_the_charge_to_the_outer_one(
        default_settings: Any) -> None:
    pipe = Pipe()
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"}
    with pipe.tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER), \
            pipe.tracer.start_as_current_span("chat gpt-4o", attributes=attrs) as outer:
        with pipe.tracer.start_as_current_span("chat gpt-4o", attributes=attrs):
            pass  # failed before any usage
        outer.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 1000)
        outer.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 100)
    assert not any(semconv.TRIPWIRE_DUPLICATE_OF in s.attributes for s in pipe.spans())
    assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(_price(1000, 100, "gpt-4o"))


def test_sibling_calls_in_one_trace_are_each_counted(default_settings: Any) -> None:
    """Concurrent calls of one request are siblings, not duplicates."""
    pipe = Pipe()
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"}
    with pipe.tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER):
        first = pipe.tracer.start_span("chat gpt-4o", attributes=attrs)
        second = pipe.tracer.start_span("chat gpt-4o", attributes=attrs)  # both open at once
        for span in (second, first):
            span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 1000)
            span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 100)
            span.end()
    assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(2 * _price(1000, 100, "gpt-4o"))


def test_agent_and_workflow_spans_with_aggregate_usage_are_not_charged(
        server: FakeOpenAIServer, default_settings: Any) -> None:
    """The conventions' invoke_agent / invoke_workflow spans may carry the usage of their
    children (pydantic-ai, Google ADK do): only the calls are charged."""
    pipe = Pipe()
    ours = OpenAIInstrumentor()
    ours.instrument(tracer_provider=pipe.provider, meter_provider=pipe.meter_provider)
    try:
        server.enqueue(chat_reply(content="a", usage=(300, 30)),
                       chat_reply(content="b", usage=(700, 70)))
        client = server.client()
        with pipe.tracer.start_as_current_span(
                "invoke_workflow triage", attributes={
                    semconv.GEN_AI_OPERATION_NAME: "invoke_workflow"}) as workflow, \
                pipe.tracer.start_as_current_span("invoke_agent helper", attributes={
                    semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    semconv.GEN_AI_PROVIDER_NAME: "openai"}) as agent:
            for _ in range(2):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            for span in (agent, workflow):
                span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 1000)
                span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 100)
    finally:
        ours.uninstrument()
    expected = _price(300, 30) + _price(700, 70)
    assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(expected)
    root = next(s for s in pipe.spans() if s.name == "invoke_workflow triage")
    assert root.attributes[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 2
    assert root.attributes[semconv.TRIPWIRE_TRACE_COST_USD] == pytest.approx(expected)


# --- tripwire.budget() without the processor -------------------------------------------------

@pytest.mark.parametrize("tracing", ["sdk-without-processor", "no-tracer-provider"])
def test_budget_block_counts_our_calls_without_the_processor(
        server: FakeOpenAIServer, tracing: str, default_settings: Any) -> None:
    instrumentor = OpenAIInstrumentor()
    pipe = Pipe(processor=False) if tracing.startswith("sdk") else None
    if pipe is not None:
        instrumentor.instrument(tracer_provider=pipe.provider)
    else:
        from opentelemetry.trace import NoOpTracerProvider

        instrumentor.instrument(tracer_provider=NoOpTracerProvider())
    try:
        server.enqueue(chat_reply(content="a", usage=(1000, 100)),
                       chat_reply(content="b", usage=(2000, 10)))
        client = server.client()
        with tripwire.budget(usd=1.0) as block:
            for _ in range(2):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    finally:
        instrumentor.uninstrument()
    assert block.spent_usd == pytest.approx(_price(1000, 100) + _price(2000, 10))
    assert block.spent_tokens == 3110
    if pipe is not None:  # spans are exported as the user set up, not enriched
        assert [semconv.TRIPWIRE_COST_USD in s.attributes for s in pipe.chat_spans()] == [
            False, False]


def test_enforce_mode_without_the_processor_refuses_the_call_over_budget(
        server: FakeOpenAIServer, use_settings: Any) -> None:
    use_settings(budget_mode=BudgetMode.ENFORCE, budget_output_estimate=1)
    with ours_alone():
        client = server.client()
        with tripwire.budget(usd=_price(1000, 100) * 1.5) as block:
            server.enqueue(chat_reply(content="a", usage=(1000, 100)),
                           chat_reply(content="b", usage=(1000, 100)))
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "x"}])
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "x"}])
            with pytest.raises(BudgetExceededError):
                client.chat.completions.create(model="gpt-4o-mini",
                                               messages=[{"role": "user", "content": "x"}])
    assert block.spent_usd == pytest.approx(_price(1000, 100) * 2)


def test_without_processor_budget_or_metrics_nothing_is_accounted(
        server: FakeOpenAIServer, default_settings: Any) -> None:
    """Instrumentors used on their own, no budget and no global meter provider: nobody would
    see the accounting, so none is done (no accountant is even built)."""
    from opentelemetry.metrics import get_meter_provider

    from tripwire._compat import is_proxy_meter_provider
    from tripwire.runtime import get_runtime

    assert is_proxy_meter_provider(get_meter_provider())  # this test process never sets one
    with ours_alone() as pipe:
        _one_call(server)
        assert get_runtime()._accountant is None
        assert len(pipe.chat_spans()) == 1  # the span itself is exported as usual


def test_without_processor_a_budget_rule_is_still_charged(
        server: FakeOpenAIServer, use_settings: Any, tmp_path: Any) -> None:
    import json

    from tripwire.runtime import get_runtime

    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"budgets": [{"name": "all", "scope": "global", "usd": 5}]}))
    use_settings(budgets_file=str(budgets))
    with ours_alone():
        _one_call(server)
    runtime = get_runtime()
    [rule] = runtime.budget_rules(runtime.settings)
    spent = runtime.ledger.spent((rule, ""))
    assert spent[0] == pytest.approx(_price(1000, 100)) and spent[1] == 1100
