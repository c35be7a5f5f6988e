"""Enrichment of spans written by the official opentelemetry-instrumentation-openai-v2.

Pins that work together here (openai 3.x depends on httpx2; the official instrumentor still
imports httpx): opentelemetry-instrumentation-openai-v2==2.4b0, opentelemetry-util-genai==1.1b0,
httpx (0.28.1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire.settings import BudgetMode
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

from .conftest import Harness

openai_v2 = pytest.importorskip(
    "opentelemetry.instrumentation.openai_v2",
    reason="needs opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==1.1b0 httpx",
)


@pytest.fixture
def official(harness: Harness) -> Iterator[FakeOpenAIServer]:
    instrumentor = openai_v2.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=harness.provider,
                            meter_provider=harness.meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield server
    finally:
        instrumentor.uninstrument()


def _price(model: str, inp: int, out: int) -> float:
    return float(calc_price(Usage(input_tokens=inp, output_tokens=out), model,
                            provider_id="openai").total_price)


def test_official_chat_spans_are_enriched(harness: Harness, official: FakeOpenAIServer) -> None:
    client = official.client()
    official.enqueue(chat_reply(content="Paris", usage=(1200, 30)),
                     chat_reply(finish_reason="content_filter", usage=(10, 0)))
    with harness.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(semconv.HTTP_ROUTE, "/ask")
        client.chat.completions.create(model="gpt-4o", messages=[
            {"role": "user", "content": "Capital of France?"}])
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}],
            stream=True, stream_options={"include_usage": True})
        for _ in stream:
            pass
        client.embeddings.create(model="text-embedding-3-small", input="hello world")
    llm = [s for s in harness.spans() if s.attributes.get(semconv.GEN_AI_OPERATION_NAME)]
    assert len(llm) == 4
    assert all(s.instrumentation_scope.name.startswith("opentelemetry.") for s in llm)
    first, filtered, streamed, embedding = llm
    assert first.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert first.attributes[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        _price("gpt-4o-2024-08-06", 1200, 30), abs=1e-9)
    assert first.attributes[semconv.TRIPWIRE_COST_SOURCE] == semconv.COST_SOURCE_PRICE_TABLE
    assert first.attributes[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] is True
    assert first.attributes[semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == 128_000
    assert first.attributes[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(
        1200 / 128_000)
    assert first.attributes[semconv.TRIPWIRE_FEATURE] == "/ask"
    assert filtered.attributes[semconv.TRIPWIRE_REFUSAL] is True
    assert filtered.attributes[semconv.TRIPWIRE_MODEL_CHANGED] is False
    inp = streamed.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS]
    out = streamed.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert streamed.attributes[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        _price("gpt-4o-mini-2024-07-18", inp, out), abs=1e-12)
    assert semconv.TRIPWIRE_COST_USD in embedding.attributes

    rootspan = harness.span("POST /ask").attributes
    total = sum(s.attributes[semconv.TRIPWIRE_COST_USD] for s in llm)
    assert rootspan[semconv.TRIPWIRE_TRACE_COST_USD] == pytest.approx(total)
    assert rootspan[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 4
    assert rootspan[semconv.TRIPWIRE_TRACE_INPUT_TOKENS] == sum(
        s.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] for s in llm)

    cost_points = harness.points(semconv.METRIC_COST)
    assert sum(v for _, v in cost_points) == pytest.approx(total)
    assert {a[semconv.TRIPWIRE_FEATURE] for a, _ in cost_points} == {"/ask"}
    [(refusal_attrs, refusals)] = harness.points(semconv.METRIC_REFUSALS)
    assert refusals == 1 and refusal_attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"


def test_official_spans_feed_budget_ledger(harness: Harness, official: FakeOpenAIServer) -> None:
    """Budgets work with a foreign instrumentor: flags (it has no pre-call hook of ours)."""
    harness.settings(budget_trace_usd=0.004, budget_mode=BudgetMode.FLAG)
    client = official.client()
    official.enqueue(chat_reply(usage=(1000, 100)), chat_reply(usage=(1000, 100)))
    with harness.tracer.start_as_current_span("agent run"):
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o", messages=[
                {"role": "user", "content": "next step"}])
    calls = [s for s in harness.spans() if s.name == "chat gpt-4o"]
    assert [s.attributes.get(semconv.TRIPWIRE_BUDGET_EXCEEDED) for s in calls] == [None, True]
    assert harness.span("agent run").attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
