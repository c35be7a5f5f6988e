"""One stream proxy for every provider, sync and async.

The proxy behaves like the stream it wraps (iteration, ``with``, ``close()``, attribute
access) and ends the call's span exactly once: when the stream is exhausted, fails, is
closed, leaves a ``with`` block, or is garbage-collected after an early ``break``.
Providers only supply an accumulator that folds chunks into a :class:`Result`.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, Protocol

import wrapt

from tripwire._core.guard import guard, log_failure
from tripwire._core.invocation import LLMCall, Result


class StreamAccumulator(Protocol):
    def add(self, chunk: Any) -> None: ...

    def result(self) -> Result: ...


def _end(call: LLMCall, acc: StreamAccumulator, exc: BaseException | None) -> None:
    """Finish ``call`` from what ``acc`` gathered. Never raises."""
    if call.ended:
        return
    result: Result | None = None
    try:
        result = acc.result()
    except Exception:
        log_failure("stream result")
    if exc is None:
        call.finish_estimated(result)
    else:
        call.fail(exc, result)


class StreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps a provider stream; see the module docstring."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        self._self_iter: Any = None
        self._self_first = True  # no chunk yet: the next one times the first chunk
        # Ends the span if the app drops the stream without exhausting or closing it.
        self._self_finalizer = weakref.finalize(self, _end, call, accumulator, None)

    # --- shared -------------------------------------------------------------------------
    def _self_chunk(self, chunk: Any) -> None:
        if self._self_first:
            self._self_first = False
            self._self_call.first_chunk()
        try:
            self._self_acc.add(chunk)
        except Exception:
            log_failure("stream chunk")

    def _self_stopped(self, exc: BaseException) -> None:
        """Iteration raised ``exc``: the end of the stream, or its failure."""
        self._self_done(None if isinstance(exc, (StopIteration, StopAsyncIteration)) else exc)

    def _self_done(self, exc: BaseException | None = None) -> None:
        finalizer = self._self_finalizer
        if finalizer.alive:
            finalizer.detach()
            _end(self._self_call, self._self_acc, exc)

    # --- sync -----------------------------------------------------------------------------
    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            iterator = self._self_iter
            if iterator is None:
                # An iterable that is not an iterator (botocore's EventStream): iterate the
                # one iterator it gives, as the app's own `for` loop would.
                wrapped = self.__wrapped__
                iterator = wrapped if hasattr(type(wrapped), "__next__") else iter(wrapped)
                self._self_iter = iterator
            chunk = next(iterator)
        except BaseException as exc:
            self._self_stopped(exc)
            raise
        self._self_chunk(chunk)
        return chunk

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_done(exc)

    def close(self) -> Any:
        try:
            result = self.__wrapped__.close()
        except BaseException as exc:
            self._self_done(exc)
            raise
        if inspect.isawaitable(result):  # AsyncStream.close() is a coroutine
            return self._self_aclose(result)
        self._self_done()
        return result

    # --- async ----------------------------------------------------------------------------
    def __aiter__(self) -> StreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except BaseException as exc:
            self._self_stopped(exc)
            raise
        self._self_chunk(chunk)
        return chunk

    async def __aenter__(self) -> StreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_done(exc)

    async def _self_aclose(self, pending: Any) -> Any:
        try:
            return await pending
        finally:
            self._self_done()

    async def aclose(self) -> Any:
        closer = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
        try:
            return await closer()
        finally:
            self._self_done()


def close_proxied(stream: Any) -> Any:
    """Close ``stream`` if it is one of our proxies (used by SDK stream helpers' close)."""
    if isinstance(stream, StreamProxy):
        with guard("stream helper close"):
            return stream.close()
    return None
