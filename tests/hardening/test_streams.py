"""Every way a stream can end, sync and async, for every instrumented SDK that streams:
exactly one ended span per stream, with the right status.

Exit paths: exhausted, early break then close(), close() before reading, ``with`` exit,
exception in the consumer, server dropping the connection mid-stream, garbage collection
without close — plus closing again after the end (still one span).
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from hardening.harness import ANSWER, LLMEnv

SYNC_EXITS = ["exhausted", "exhausted-then-close", "break-then-close", "close-unread", "with-exit",
              "consumer-exception", "server-drops", "gc-without-close"]
ASYNC_EXITS = ["exhausted", "break-then-close", "close-unread", "async-with-exit",
               "consumer-exception", "server-drops", "gc-without-close"]
ERROR_EXITS = {"consumer-exception", "server-drops"}


def _one_span(env: LLMEnv) -> Any:
    spans = env.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].end_time is not None
    return spans[0]


def _check_status(span: Any, exit_path: str, with_block: bool) -> None:
    if exit_path == "server-drops" or (exit_path == "consumer-exception" and with_block):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"]
        if exit_path == "consumer-exception":
            assert span.attributes["error.type"] == "ZeroDivisionError"
    else:
        assert span.status.status_code is StatusCode.UNSET, span.status
        assert "error.type" not in span.attributes


@pytest.mark.parametrize("exit_path", SYNC_EXITS)
def test_sync_stream_exit(llm: LLMEnv, exit_path: str) -> None:
    case, server = llm.case, llm.server
    if exit_path == "with-exit" and not case.has_with:
        pytest.skip(f"{case.name} streams are not context managers")
    server.enqueue(case.abort(ANSWER, 3) if exit_path == "server-drops" else case.ok(ANSWER))
    stream = case.open_stream(llm.client())
    with_block = case.has_with
    if exit_path == "exhausted":
        assert "".join(case.chunk_text(c) for c in stream) == ANSWER
    elif exit_path == "exhausted-then-close":
        list(stream)
        stream.close()
        stream.close()
    elif exit_path == "break-then-close":
        for _ in stream:
            break
        assert llm.llm_spans() == []  # still open: the app may read on
        stream.close()
    elif exit_path == "close-unread":
        stream.close()
    elif exit_path == "with-exit":
        with stream as s:
            next(iter(s))
    elif exit_path == "consumer-exception":
        with pytest.raises(ZeroDivisionError):
            if with_block:
                with stream:
                    for _ in stream:
                        1 / 0  # noqa: B018
            else:
                for _ in stream:
                    1 / 0  # noqa: B018
        if not with_block:  # nothing closed it: the app drops it
            del stream
            gc.collect()
    elif exit_path == "server-drops":
        with pytest.raises(Exception):
            for _ in stream:
                pass
    elif exit_path == "gc-without-close":
        next(iter(stream))
        del stream
        gc.collect()
    gc.collect()
    _check_status(_one_span(llm), exit_path, with_block)


@pytest.mark.parametrize("exit_path", ASYNC_EXITS)
async def test_async_stream_exit(llm: LLMEnv, exit_path: str) -> None:
    case, server = llm.case, llm.server
    if case.aopen_stream is None or case.async_client is None:
        pytest.skip(f"{case.name} has no async client")
    if exit_path == "async-with-exit" and not case.has_async_with:
        pytest.skip(f"{case.name} async streams are not async context managers")
    server.enqueue(case.abort(ANSWER, 3) if exit_path == "server-drops" else case.ok(ANSWER))
    stream = await case.aopen_stream(llm.async_client())
    with_block = case.has_async_with

    async def close() -> None:
        inner = getattr(stream, "__wrapped__", stream)
        if hasattr(inner, "aclose"):
            await stream.aclose()
        else:
            await stream.close()

    if exit_path == "exhausted":
        text = ""
        async for chunk in stream:
            text += case.chunk_text(chunk)
        assert text == ANSWER
        await close()  # closing again changes nothing
    elif exit_path == "break-then-close":
        async for _ in stream:
            break
        assert llm.llm_spans() == []
        await close()
    elif exit_path == "close-unread":
        await close()
    elif exit_path == "async-with-exit":
        async with stream as s:
            await s.__anext__()
    elif exit_path == "consumer-exception":
        with pytest.raises(ZeroDivisionError):
            if with_block:
                async with stream:
                    async for _ in stream:
                        1 / 0  # noqa: B018
            else:
                async for _ in stream:
                    1 / 0  # noqa: B018
        if not with_block:
            del stream
            gc.collect()
    elif exit_path == "server-drops":
        with pytest.raises(Exception):
            async for _ in stream:
                pass
    elif exit_path == "gc-without-close":
        await stream.__anext__()
        del stream
        gc.collect()
    gc.collect()
    _check_status(_one_span(llm), exit_path, with_block)


def test_many_dropped_streams_each_end_once(llm: LLMEnv) -> None:
    """50 streams abandoned mid-way: 50 spans once collected, none twice."""
    case = llm.case
    client = llm.client()
    for _ in range(50):
        llm.server.enqueue(case.ok(ANSWER))
        stream = case.open_stream(client)
        next(iter(stream))
        del stream
    gc.collect()
    spans = llm.llm_spans()
    assert len(spans) == 50
    assert len({s.context.span_id for s in spans}) == 50
