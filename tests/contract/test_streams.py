"""Every way a stream can end, sync and async, for every instrumented SDK that streams:
exactly one ended span per stream, with the right status.

Exit paths: exhausted, early break then close(), close() before reading, ``with`` exit,
exception in the consumer, server dropping the connection mid-stream (also inside
``async with``), garbage collection without close — plus closing again after the end (still
one span). An exhausted stream carries the provider's usage and the time to first chunk; a
stream without usage is estimated, and marked so.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from hardening.harness import ANSWER, LLMEnv
from tripwire import semconv as sc

SYNC_EXITS = ["exhausted", "exhausted-then-close", "break-then-close", "close-unread", "with-exit",
              "consumer-exception", "server-drops", "gc-without-close"]
ASYNC_EXITS = ["exhausted", "break-then-close", "close-unread", "async-with-exit",
               "consumer-exception", "server-drops", "async-with-server-drops",
               "gc-without-close"]


def _one_span(env: LLMEnv) -> Any:
    spans = env.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].end_time is not None
    return spans[0]


def _check_status(span: Any, exit_path: str, with_block: bool,
                  raised: BaseException | None = None) -> None:
    if exit_path.endswith("server-drops") or (exit_path == "consumer-exception" and with_block):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"]
        if exit_path == "consumer-exception":
            assert span.attributes["error.type"] == "ZeroDivisionError"
        if raised is not None:  # the exception the app saw names the span's error
            assert span.attributes["error.type"] == type(raised).__qualname__
    else:
        assert span.status.status_code is StatusCode.UNSET, span.status
        assert "error.type" not in span.attributes
    if exit_path == "break-then-close":  # cut short: the finish reason never came
        assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in span.attributes


def _check_drop(llm: LLMEnv, raised: BaseException) -> None:
    if llm.case.drop_error:
        assert type(raised).__name__ == llm.case.drop_error


def _check_usage_and_first_chunk(llm: LLMEnv, span: Any) -> None:
    """The provider's usage (``case.ok``: 7 in, one token a word out) and the time to first
    chunk, on the span and as the metric point."""
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == len(ANSWER.split())
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    (ttfc,) = llm.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1 and ttfc.sum == pytest.approx(a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])


def _check_ended(llm: LLMEnv, exit_path: str, with_block: bool,
                 raised: BaseException | None) -> None:
    """Once every reference the test held is gone: one ended span, with the exit's status."""
    gc.collect()
    span = _one_span(llm)
    _check_status(span, exit_path, with_block, raised)
    if exit_path == "exhausted":
        _check_usage_and_first_chunk(llm, span)


@pytest.mark.parametrize("exit_path", SYNC_EXITS)
def test_sync_stream_exit(llm: LLMEnv, exit_path: str) -> None:
    case, server = llm.case, llm.server
    if exit_path == "with-exit" and not case.has_with:
        pytest.skip(f"{case.name} streams are not context managers")
    server.enqueue(case.abort(ANSWER, 3) if exit_path == "server-drops" else case.ok(ANSWER))
    stream = case.open_stream(llm.client())
    with_block = case.has_with
    raised = None
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
        _one_span(llm)
        stream.close()  # closing again changes nothing
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
        with pytest.raises(Exception) as info:
            for _ in stream:
                pass
        raised = info.value
        _check_drop(llm, raised)
    elif exit_path == "gc-without-close":
        next(iter(stream))
        del stream
    _check_ended(llm, exit_path, with_block, raised)


@pytest.mark.parametrize("exit_path", ASYNC_EXITS)
async def test_async_stream_exit(llm: LLMEnv, exit_path: str) -> None:
    case, server = llm.case, llm.server
    if case.aopen_stream is None or case.async_client is None:
        pytest.skip(f"{case.name} has no async client")
    if exit_path.startswith("async-with") and not case.has_async_with:
        pytest.skip(f"{case.name} async streams are not async context managers")
    server.enqueue(case.abort(ANSWER, 3) if exit_path.endswith("server-drops")
                   else case.ok(ANSWER))
    stream = await case.aopen_stream(llm.async_client())
    with_block = case.has_async_with
    raised = None

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
        with pytest.raises(Exception) as info:
            async for _ in stream:
                pass
        raised = info.value
        _check_drop(llm, raised)
    elif exit_path == "async-with-server-drops":
        with pytest.raises(Exception) as info:
            async with stream as s:
                async for _ in s:
                    pass
        raised = info.value
    elif exit_path == "gc-without-close":
        await stream.__anext__()
        del stream
    _check_ended(llm, exit_path, with_block, raised)


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


def test_stream_without_usage_is_estimated(llm: LLMEnv) -> None:
    case = llm.case
    llm.server.enqueue(case.ok(ANSWER, usage=False))
    assert "".join(case.chunk_text(c) for c in case.open_stream(llm.client(), usage=False)) \
        == ANSWER
    a = _one_span(llm).attributes
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in a
