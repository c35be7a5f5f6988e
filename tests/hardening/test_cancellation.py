"""A call cut short by ``asyncio.timeout()`` is recorded as timed out; a plain cancellation
as cancelled — for every provider with an async client, calls and streams.

The wrapped call only ever sees ``CancelledError``: the enclosing ``Timeout`` turns it into
the ``TimeoutError`` the application gets when its block exits, after the span has ended.
The span must say what the application saw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from hardening.harness import LLMEnv
from tripwire import semconv as sc

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11),
                                reason="asyncio.timeout() is Python 3.11+")
SLOW = 2.0  # seconds the fake server waits: far past every timeout below


def _slow(env: LLMEnv, *, stream: bool = False) -> None:
    """Queue a reply that comes late (a stream: whose events come late)."""
    server = env.server

    def reply(request: Any) -> Any:
        answer = server.default_reply(request)
        if stream:
            return dataclasses.replace(answer, chunks=list(answer.chunks), chunk_delay=SLOW)
        time.sleep(SLOW)
        return answer

    server.enqueue(reply)


def _span(env: LLMEnv) -> Any:
    [span] = env.llm_spans()
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.ERROR
    return span


# On CPython 3.11 a cancellation that the SDK's HTTP stack re-raises after awaiting its own
# clean-up (httpx/httpcore: openai, anthropic) leaves no trace of the timeout that can be read
# (see lifecycle.cancelled_by_timeout): recorded as CancelledError there.
_HTTPX_SDKS = ("openai", "anthropic")


def _async_case(llm: LLMEnv, request: pytest.FixtureRequest | None = None) -> None:
    if llm.case.acall is None:
        pytest.skip(f"{llm.case.name} has no async client")
    if request is not None and sys.version_info < (3, 12) and llm.case.name in _HTTPX_SDKS:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="3.11: the timeout cannot be told from a cancellation "
            "re-raised after an await"))


def test_a_call_cut_short_by_asyncio_timeout_is_recorded_as_timed_out(
        llm: LLMEnv, request: pytest.FixtureRequest) -> None:
    _async_case(llm, request)
    _slow(llm)
    client = llm.async_client()

    async def main() -> None:
        async with asyncio.timeout(0.05):
            await llm.case.acall(client)  # type: ignore[misc]

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    span = _span(llm)
    assert span.attributes[sc.ERROR_TYPE] == "TimeoutError"
    assert span.status.description == "TimeoutError"
    [point] = [p for p in llm.points("gen_ai.client.operation.duration")]
    assert point.attributes[sc.ERROR_TYPE] == "TimeoutError"


def test_a_stream_cut_short_by_asyncio_timeout_is_recorded_as_timed_out(
        llm: LLMEnv, request: pytest.FixtureRequest) -> None:
    _async_case(llm, request)
    _slow(llm, stream=True)
    client = llm.async_client()

    async def main() -> None:
        stream = await llm.case.aopen_stream(client)  # type: ignore[misc]
        async with asyncio.timeout(0.05):
            async for _ in stream:
                pass

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert _span(llm).attributes[sc.ERROR_TYPE] == "TimeoutError"


def test_a_plain_cancellation_is_recorded_as_cancelled(llm: LLMEnv) -> None:
    _async_case(llm)
    _slow(llm)
    client = llm.async_client()

    async def main() -> None:
        task = asyncio.ensure_future(llm.case.acall(client))  # type: ignore[misc]
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _span(llm).attributes[sc.ERROR_TYPE] == "CancelledError"


def test_a_cancellation_inside_a_timeout_that_has_not_expired_stays_a_cancellation(
        llm: LLMEnv) -> None:
    _async_case(llm)
    _slow(llm)
    client = llm.async_client()

    async def call() -> None:
        async with asyncio.timeout(60):
            await llm.case.acall(client)  # type: ignore[misc]

    async def main() -> None:
        task = asyncio.ensure_future(call())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _span(llm).attributes[sc.ERROR_TYPE] == "CancelledError"


def test_a_timeout_caught_inside_the_call_leaves_later_cancellations_alone(
        llm: LLMEnv) -> None:
    """An expired timeout the application already handled does not make a later plain
    cancellation of the same task a timeout."""
    _async_case(llm)
    client = llm.async_client()

    async def call() -> None:
        try:
            async with asyncio.timeout(0):
                await asyncio.sleep(1)
        except TimeoutError:
            pass
        _slow(llm)
        await llm.case.acall(client)  # type: ignore[misc]

    async def main() -> None:
        task = asyncio.ensure_future(call())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _span(llm).attributes[sc.ERROR_TYPE] == "CancelledError"
