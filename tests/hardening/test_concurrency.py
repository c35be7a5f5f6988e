"""Many requests at once: 200 threads and 2000 asyncio tasks, each one "request" (a root
span) making LLM calls and streams. Every LLM span sits under its own request's root, and
per-trace rollups (``tripwire.trace.*`` on each local root) and trace budgets are never
mixed across requests.

The fake server counts input tokens as the words of the prompt, so request ``i`` sends
``words(i)`` words and its rollup must add up to exactly its own calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

import pytest

from hardening.harness import Pipeline
from tripwire import semconv as sc
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.runtime import replace_settings
from tripwire.testing import FakeOpenAIServer, RecordedRequest, Reply, StreamReply

DEFAULT_ANSWER_WORDS = 6  # "Hello from the fake OpenAI server."
BUDGET_TOKENS = 40


def words(i: int) -> int:
    return 1 + i % 20


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(["w"] * words(i))}]


@pytest.fixture
def openai_pipeline(pipeline: Pipeline) -> Any:
    replace_settings(budget_trace_tokens=BUDGET_TOKENS)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    yield pipeline
    inst.uninstrument()


def _check(pipeline: Pipeline, n_requests: int, calls_per_request: int) -> None:
    spans = pipeline.spans()
    roots = {s.context.span_id: s for s in spans if s.parent is None}
    assert len(roots) == n_requests
    children: dict[int, list[Any]] = defaultdict(list)
    for span in spans:
        if span.parent is not None:
            children[span.parent.span_id].append(span)
    for root in roots.values():
        i = root.attributes["request.index"]
        calls = children[root.context.span_id]
        assert len(calls) == calls_per_request, (i, [c.name for c in calls])
        for call in calls:  # its own trace, its own prompt
            assert call.context.trace_id == root.context.trace_id
            assert call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == words(i)
        a = root.attributes
        per_call = words(i) + DEFAULT_ANSWER_WORDS
        assert a[sc.TRIPWIRE_TRACE_LLM_CALLS] == calls_per_request, i
        assert a[sc.TRIPWIRE_TRACE_INPUT_TOKENS] == words(i) * calls_per_request, i
        assert a[sc.TRIPWIRE_TRACE_OUTPUT_TOKENS] == DEFAULT_ANSWER_WORDS * calls_per_request
        over = per_call * calls_per_request >= BUDGET_TOKENS
        assert bool(a.get(sc.TRIPWIRE_BUDGET_EXCEEDED)) is over, (i, dict(a))
        crossing = [c for c in calls if c.attributes.get(sc.TRIPWIRE_BUDGET_EXCEEDED)]
        if over:  # the call that crossed is in this trace, and it is the one that crossed
            assert crossing
        else:
            assert not crossing


def test_200_threads_calls_and_streams(openai_pipeline: Pipeline) -> None:
    tracer = openai_pipeline.provider.get_tracer("app")
    n = 200
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    with FakeOpenAIServer() as server:
        client = server.client()

        def request(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                with tracer.start_as_current_span(f"request {i}", attributes={"request.index": i}):
                    client.chat.completions.create(model="gpt-4o-mini", messages=prompt(i))
                    for _ in client.chat.completions.create(
                            model="gpt-4o-mini", messages=prompt(i), stream=True,
                            stream_options={"include_usage": True}):
                        pass
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
    _check(openai_pipeline, n, 2)


def _in_process_transport(server: FakeOpenAIServer) -> Any:
    """An httpx transport answering from the fake server's reply logic, without sockets."""
    import httpx2

    def handle(request: Any) -> Any:
        recorded = RecordedRequest(request.method, request.url.path, {},
                                   {k.lower(): v for k, v in request.headers.items()},
                                   request.read())
        reply = server._reply_for(recorded)
        if isinstance(reply, StreamReply):
            return httpx2.Response(reply.status, headers={"content-type": reply.content_type,
                                                          **reply.headers},
                                   content=b"".join(reply.chunks))
        assert isinstance(reply, Reply)
        return httpx2.Response(reply.status, headers={"content-type": reply.content_type,
                                                      **reply.headers}, content=reply.body)

    return httpx2.MockTransport(handle)


def test_2000_asyncio_tasks(openai_pipeline: Pipeline) -> None:
    import httpx2
    import openai

    tracer = openai_pipeline.provider.get_tracer("app")
    n = 2000
    server = FakeOpenAIServer()  # not started: replies come through the in-process transport

    async def main() -> None:
        client = openai.AsyncOpenAI(
            base_url="http://fake.invalid/v1", api_key="k", max_retries=0,
            http_client=httpx2.AsyncClient(transport=_in_process_transport(server)))
        start = asyncio.Event()

        async def request(i: int) -> None:
            await start.wait()
            with tracer.start_as_current_span(f"request {i}", attributes={"request.index": i}):
                if i % 2:
                    await client.chat.completions.create(model="gpt-4o-mini", messages=prompt(i))
                else:
                    stream = await client.chat.completions.create(
                        model="gpt-4o-mini", messages=prompt(i), stream=True,
                        stream_options={"include_usage": True})
                    async for _ in stream:
                        await asyncio.sleep(0)  # interleave with the other tasks
                await client.chat.completions.create(model="gpt-4o-mini", messages=prompt(i))

        tasks = [asyncio.create_task(request(i)) for i in range(n)]
        await asyncio.sleep(0)
        start.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    _check(openai_pipeline, n, 2)
