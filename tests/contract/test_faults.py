"""Fault injection across every instrumentor: each telemetry step raises in turn.

For every step the application sees the same answers and the same exceptions as without a
fault, every span that was started still ends (exactly once), and the failure is logged at
WARNING once per step however often it recurs. Injections are generic (core classes, SDK
instruments, the enrichers, the processor EnrichingSpanProcessor wraps), so the same matrix
runs for every LLM SDK case and for the retrieval / tool instrumentors. Each case adds the
steps only its SDK has (its request and response mapping, its stream accumulator), driven
through every entry point, a tool call and an HTTP error.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics._internal import instrument as sdk_instruments

from hardening.harness import ANSWER, LLMEnv, Pipeline, failures, llm_params
from tripwire._core import invocation, operations, stream, wrapping
from tripwire._core.invocation import LLMCall
from tripwire.processors import EnrichingSpanProcessor
from tripwire.processors.cost import CostEnricher
from tripwire.processors.rollup import RollupEnricher
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected telemetry failure")


class _FailingAccumulator:
    def __init__(self, inner: Any, fail_add: bool, fail_result: bool) -> None:
        self.inner, self.fail_add, self.fail_result = inner, fail_add, fail_result

    def add(self, chunk: Any) -> None:
        if self.fail_add:
            raise RuntimeError("injected accumulator failure")
        self.inner.add(chunk)

    def result(self) -> Any:
        if self.fail_result:
            raise RuntimeError("injected accumulator failure")
        return self.inner.result()


def _accumulator_fault(fail_add: bool, fail_result: bool) -> Callable[[Any, Pipeline], None]:
    def inject(monkeypatch: Any, pipeline: Pipeline) -> None:
        real = stream.StreamProxy

        def proxy(result: Any, call: Any, acc: Any) -> Any:
            return real(result, call, _FailingAccumulator(acc, fail_add, fail_result))

        monkeypatch.setattr(wrapping, "StreamProxy", proxy)

    return inject


def _patch(owner: Any, name: str) -> Callable[[Any, Pipeline], None]:
    return lambda monkeypatch, pipeline: monkeypatch.setattr(owner, name, _boom)


def _capture_and(owner: Any, name: str) -> Callable[[Any, Pipeline], None]:
    def inject(monkeypatch: Any, pipeline: Pipeline) -> None:
        replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
        monkeypatch.setattr(owner, name, _boom)

    return inject


def _metrics(monkeypatch: Any, pipeline: Pipeline) -> None:
    monkeypatch.setattr(sdk_instruments._Histogram, "record", _boom)
    monkeypatch.setattr(sdk_instruments._Counter, "add", _boom)


def _downstream_end(monkeypatch: Any, pipeline: Pipeline) -> None:
    pipeline.downstream.fail_on_end = True


def _downstream_start(monkeypatch: Any, pipeline: Pipeline) -> None:
    pipeline.downstream.fail_on_start = True


# (id, injection, whether the span still exists, the step names that may be logged)
FAULTS: list[tuple[str, Callable[[Any, Pipeline], None], bool]] = [
    ("request-mapping", _patch(invocation.Request, "__init__"), False),
    ("span-start", _patch(LLMCall, "__init__"), False),
    ("request-attributes", _patch(LLMCall, "_record_request_extras"), True),
    ("content-serialisation", _capture_and(invocation.content, "to_json"), True),
    ("response-mapping", _patch(invocation.Result, "__init__"), True),
    ("response-attributes", _patch(LLMCall, "_record_result"), True),
    ("token-estimation", _patch(invocation, "count_tokens"), True),
    ("metrics", _metrics, True),
    ("stream-chunk", _accumulator_fault(True, False), True),
    ("stream-result", _accumulator_fault(False, True), True),
    ("enricher-cost", _patch(CostEnricher, "enrich"), True),
    ("enricher-rollup", _patch(RollupEnricher, "enrich"), True),
    ("enrichment", _patch(EnrichingSpanProcessor, "_enrich"), True),
    ("enrichment-on-start", _patch(EnrichingSpanProcessor, "_track_start"), True),
    ("downstream-on-end", _downstream_end, True),
    # the SDK calls on_start inside start_span: no span, the call runs uninstrumented
    ("downstream-on-start", _downstream_start, False),
]


def _scenario(env: LLMEnv) -> list[Any]:
    """Answers and exceptions the app sees: call, stream (with and without usage), error."""
    case, server = env.case, env.server
    client = env.client()
    seen: list[Any] = []
    server.enqueue(case.ok(ANSWER))
    seen.append(case.call(client))
    server.enqueue(case.ok(ANSWER))
    seen.append("".join(case.chunk_text(c) for c in case.open_stream(client)))
    server.enqueue(case.ok(ANSWER, usage=False))
    seen.append("".join(case.chunk_text(c) for c in case.open_stream(client, usage=False)))
    server.enqueue(case.error())
    try:
        case.call(client)
    except Exception as exc:
        seen.append(type(exc).__name__)
    return seen


async def _ascenario(env: LLMEnv) -> list[Any]:
    case, server = env.case, env.server
    if case.acall is None or case.async_client is None:
        return []
    client = env.async_client()
    seen: list[Any] = []
    server.enqueue(case.ok(ANSWER))
    seen.append(await case.acall(client))
    server.enqueue(case.ok(ANSWER))
    text = ""
    async for chunk in await case.aopen_stream(client):
        text += case.chunk_text(chunk)
    seen.append(text)
    return seen


def _expected(env: LLMEnv, n_async: int) -> list[Any]:
    return [ANSWER, ANSWER, ANSWER, env.case.error_type], [ANSWER, ANSWER][:n_async]


@pytest.fixture(params=llm_params())
def llm_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.mark.parametrize(("inject", "span_exists"), [pytest.param(f, s, id=i) for i, f, s in FAULTS])
def test_llm_step_failing_leaves_the_app_intact(llm_case: Any, pipeline: Pipeline, monkeypatch: Any,
                                               caplog: Any, inject: Any, span_exists: bool) -> None:
    from hardening.harness import instrumented

    with instrumented(llm_case, pipeline) as env:
        inject(monkeypatch, pipeline)
        with caplog.at_level(logging.DEBUG, logger="tripwire"):
            seen = _scenario(env)
            aseen = asyncio.run(_ascenario(env))
        expected, aexpected = _expected(env, len(aseen))
        assert seen == expected
        assert aseen == aexpected
        calls = len(seen) + len(aseen)
        llm_spans = env.llm_spans()
        if span_exists:
            # every started span ended, once: one exported span per call
            assert len(llm_spans) == calls, [s.name for s in llm_spans]
            assert len({s.context.span_id for s in llm_spans}) == calls
            error_spans = [s for s in llm_spans if s.status.status_code.name == "ERROR"]
            assert len(error_spans) == 1
        else:
            assert llm_spans == []
        steps = failures(caplog)
        assert steps, "the injected failure was not logged"
        assert len(steps) == len(set(steps)), f"a step was logged at WARNING twice: {steps}"


# --- steps of each SDK's own mapping -------------------------------------------------------

# Core steps every case runs, besides those of hardening's generic matrix above.
CORE_POINTS: tuple[tuple[str, str, bool], ...] = (
    ("span-start", "tripwire._core.invocation:LLMCall.__init__", False),
    ("request-extras", "tripwire._core.invocation:LLMCall._record_request_extras", True),
    ("response-attributes", "tripwire._core.invocation:LLMCall._record_result", True),
    ("metrics-recording", "tripwire._core.invocation:LLMCall._record_metrics", True),
    ("token-estimation", "tripwire._core.invocation:count_tokens", True),
    ("tool-call-checks", "tripwire._core.invocation:check_tool_calls", True),
)


def _sdk_points() -> list[Any]:
    return [pytest.param(case, point, id=f"{case.name}-{point[0]}")
            for case in (p.values[0] for p in llm_params())
            for point in (*CORE_POINTS, *case.fault_points)]


def _inject_at(monkeypatch: Any, where: str) -> None:
    module_name, _, path = where.partition(":")
    *owners, name = path.split(".")
    owner: Any = importlib.import_module(module_name)
    for attr in owners:
        owner = getattr(owner, attr)
    assert hasattr(owner, name), where  # a renamed step must not make this test vacuous
    monkeypatch.setattr(owner, name, _boom)


@pytest.mark.parametrize(("case", "point"), _sdk_points())
def test_sdk_step_failing_leaves_the_call_intact(case: Any, point: tuple[str, str, bool],
                                                 pipeline: Pipeline, monkeypatch: Any,
                                                 caplog: Any) -> None:
    from hardening.harness import instrumented

    _, where, span_exists = point
    with instrumented(case, pipeline) as env:
        _inject_at(monkeypatch, where)
        client = env.client()
        with caplog.at_level(logging.WARNING, logger="tripwire"):
            env.server.enqueue(case.tool_reply())
            assert case.call_with_tool(client) == "f"
            env.server.enqueue(case.ok(ANSWER, usage=False))
            assert "".join(case.chunk_text(c)
                           for c in case.open_stream(client, usage=False)) == ANSWER
            for variant in case.variants:
                env.server.enqueue(case.ok(ANSWER))
                assert variant(client) == ANSWER
            env.server.enqueue(case.error())
            with pytest.raises(Exception) as raised:
                case.call(client)
            assert type(raised.value).__name__ == case.error_type
        calls = 3 + len(case.variants)
        spans = env.llm_spans()
        assert len(spans) == (calls if span_exists else 0), [s.name for s in spans]
        assert len({s.context.span_id for s in spans}) == len(spans)
        if span_exists:  # the HTTP error is still named on its span
            assert [s.attributes.get("error.type") for s in spans
                    if s.status.status_code.name == "ERROR"] == [case.error_type]
    steps = failures(caplog)
    assert steps, "the injected failure was not logged"
    assert len(steps) == len(set(steps)), f"a step was logged at WARNING twice: {steps}"


# --- retrieval and tool instrumentors ------------------------------------------------------

def _chroma(pipeline: Pipeline) -> Callable[[], Any]:
    chromadb = pytest.importorskip("chromadb")
    import uuid

    from tripwire.instrumentation.chromadb import ChromaInstrumentor

    inst = ChromaInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    col = chromadb.EphemeralClient().create_collection(f"h-{uuid.uuid4().hex[:8]}",
                                                       embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["x", "y"])

    def run() -> Any:
        return col.query(query_embeddings=[[1.0, 0.1]], n_results=1)["ids"]

    run.cleanup = inst.uninstrument  # type: ignore[attr-defined]
    return run


def _qdrant(pipeline: Pipeline) -> Callable[[], Any]:
    pytest.importorskip("qdrant_client")
    from qdrant_client import QdrantClient, models

    from tripwire.instrumentation.qdrant import QdrantInstrumentor

    inst = QdrantInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    client = QdrantClient(":memory:")
    client.create_collection("kb", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.COSINE))
    client.upsert("kb", points=[models.PointStruct(id=1, vector=[1.0, 0.0], payload={"t": "x"})])

    def run() -> Any:
        return [p.id for p in client.query_points("kb", query=[1.0, 0.1], limit=1).points]

    run.cleanup = inst.uninstrument  # type: ignore[attr-defined]
    return run


def _decorated_tool(pipeline: Pipeline) -> Callable[[], Any]:
    from tripwire.decorators import tool

    @tool
    def lookup(city: str) -> str:
        return f"sunny in {city}"

    def run() -> Any:
        return lookup("Oslo")

    run.cleanup = lambda: None  # type: ignore[attr-defined]
    return run


def _decorated_retriever(pipeline: Pipeline) -> Callable[[], Any]:
    from tripwire.decorators import retriever

    @retriever(data_source="kb")
    async def search(query: str) -> list[dict[str, Any]]:
        return [{"id": "d1", "score": 0.9}]

    def run() -> Any:
        return asyncio.run(search("q"))

    run.cleanup = lambda: None  # type: ignore[attr-defined]
    return run


def _langchain_tool(pipeline: Pipeline) -> Callable[[], Any]:
    pytest.importorskip("langchain_core")
    from langchain_core.tools import tool as lc_tool

    from tripwire.instrumentation.langchain import LangChainInstrumentor

    inst = LangChainInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)

    @lc_tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def run() -> Any:
        return add.invoke({"a": 2, "b": 3})

    run.cleanup = inst.uninstrument  # type: ignore[attr-defined]
    return run


OPERATION_TARGETS = {"chromadb": _chroma, "qdrant": _qdrant, "tool-decorator": _decorated_tool,
                     "retriever-decorator": _decorated_retriever, "langchain-tool": _langchain_tool}

OPERATION_FAULTS: list[tuple[str, Callable[[Any, Pipeline], None], bool]] = [
    ("operation-mapping", _patch(operations.Operation, "__init__"), False),
    ("span-start", _patch(operations.OperationSpan, "__init__"), False),
    ("request-content", _capture_and(operations.OperationSpan, "_record_request_content"), True),
    ("result-attributes", _patch(operations.OperationSpan, "_record_result"), True),
    ("retrieval-flags", _patch(operations, "retrieval_attributes"), True),
    ("tool-hash", _patch(operations, "arguments_hash"), False),
    ("metrics", _metrics, True),
    ("enricher-tool-loop", _patch(
        __import__("tripwire.processors.tool_loop", fromlist=["ToolLoopEnricher"]).ToolLoopEnricher,
        "enrich"), True),
    ("enrichment", _patch(EnrichingSpanProcessor, "_enrich"), True),
    ("downstream-on-end", _downstream_end, True),
]


RETRIEVALS = {"chromadb", "qdrant", "retriever-decorator"}


def _operation_expectation(fault: str, target: str, span_exists: bool) -> tuple[bool, bool]:
    """(span exists, the step fails at all) for a fault on a target."""
    tool = target not in RETRIEVALS
    if fault == "tool-hash":
        return (not tool, tool)
    if fault in ("retrieval-flags", "metrics"):  # tools record no metric of their own
        return (True, not tool)
    return (span_exists, True)


@pytest.mark.parametrize("target", sorted(OPERATION_TARGETS))
@pytest.mark.parametrize(("fault", "inject", "span_exists"),
                         [pytest.param(i, f, s, id=i) for i, f, s in OPERATION_FAULTS])
def test_operation_step_failing_leaves_the_app_intact(pipeline: Pipeline, monkeypatch: Any,
                                                     caplog: Any, target: str, fault: str,
                                                     inject: Any, span_exists: bool) -> None:
    run = OPERATION_TARGETS[target](pipeline)
    try:
        expected = run()
        pipeline.clear()
        inject(monkeypatch, pipeline)
        with caplog.at_level(logging.DEBUG, logger="tripwire"):
            assert run() == expected
            assert run() == expected
        monkeypatch.undo()
    finally:
        run.cleanup()  # type: ignore[attr-defined]
    exists, applies = _operation_expectation(fault, target, span_exists)
    ops = [s for s in pipeline.spans() if (s.attributes or {}).get("gen_ai.operation.name")]
    assert len(ops) == (2 if exists else 0), [s.name for s in ops]
    steps = failures(caplog)
    if applies:
        assert steps, "the injected failure was not logged"
    assert len(steps) == len(set(steps)), f"a step was logged at WARNING twice: {steps}"
