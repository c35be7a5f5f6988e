"""Lifecycle, for every LLM instrumentor: instrument()/uninstrument() are symmetric (what
was wrapped is restored, and comes back), a second instrument() or construction changes
nothing, ``suppress_instrumentation()`` is respected, and each call is recorded once — nested
in the app's own span too."""

from __future__ import annotations

import asyncio
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation

from hardening.harness import ANSWER, LLMEnv


def _every_entry_point(env: LLMEnv) -> int:
    """One call through each sync entry point of the SDK (call, stream, variants): how many."""
    case, client = env.case, env.client()
    env.server.enqueue(case.ok(ANSWER))
    assert case.call(client) == ANSWER
    env.server.enqueue(case.ok(ANSWER))
    assert "".join(case.chunk_text(c) for c in case.open_stream(client)) == ANSWER
    for variant in case.variants:
        env.server.enqueue(case.ok(ANSWER))
        assert variant(client) == ANSWER
    return 2 + len(case.variants)


async def _every_async_entry_point(env: LLMEnv) -> int:
    case = env.case
    if case.acall is None or case.aopen_stream is None:
        return 0
    client = env.async_client()
    env.server.enqueue(case.ok(ANSWER))
    assert await case.acall(client) == ANSWER
    env.server.enqueue(case.ok(ANSWER))
    assert "".join([case.chunk_text(c) async for c in await case.aopen_stream(client)]) == ANSWER
    return 2


def _is_wrapped(owner: Any, name: str) -> bool:
    return isinstance(owner.__dict__[name], wrapt.BaseObjectProxy)


def _reinstrument(env: LLMEnv) -> None:
    env.instrumentor.instrument(tracer_provider=env.pipeline.provider,
                                meter_provider=env.pipeline.meter_provider)


def test_suppress_instrumentation(llm: LLMEnv) -> None:
    with suppress_instrumentation():
        calls = _every_entry_point(llm)
        calls += asyncio.run(_every_async_entry_point(llm))
    assert llm.llm_spans() == []
    assert len(llm.server.requests) == calls  # the calls themselves went through


def test_instrument_twice_is_a_noop(llm: LLMEnv) -> None:
    type(llm.instrumentor)().instrument(tracer_provider=llm.pipeline.provider)  # singleton
    calls = _every_entry_point(llm)
    spans = llm.llm_spans()
    assert len(spans) == calls
    assert len({s.context.span_id for s in spans}) == calls


def test_uninstrument_restores_the_sdk(llm: LLMEnv) -> None:
    members = llm.case.wrapped()
    assert members
    for owner, name in members:  # wrapped now, so the check below can fail
        assert _is_wrapped(owner, name), (owner, name)
    llm.instrumentor.uninstrument()
    for owner, name in members:
        assert not _is_wrapped(owner, name), (owner, name)
    _every_entry_point(llm)
    assert llm.llm_spans() == []
    _reinstrument(llm)
    for owner, name in members:
        assert _is_wrapped(owner, name), (owner, name)
    llm.server.enqueue(llm.case.ok(ANSWER))
    llm.case.call(llm.client())
    assert len(llm.llm_spans()) == 1


def test_second_construction_does_not_forget_what_was_wrapped(llm: LLMEnv) -> None:
    members = llm.case.wrapped()
    type(llm.instrumentor)()  # BaseInstrumentor is a singleton: __init__ runs again
    llm.instrumentor.uninstrument()
    for owner, name in members:
        assert not _is_wrapped(owner, name), (owner, name)
    _reinstrument(llm)


def test_call_in_an_app_span_is_recorded_once_as_its_child(llm: LLMEnv) -> None:
    tracer = llm.pipeline.provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        calls = _every_entry_point(llm)
    spans = llm.llm_spans()
    assert len(spans) == calls
    for span in spans:
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
