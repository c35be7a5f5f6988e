"""A generator proxy for runs that yield as they go (an agent graph's ``stream``): the run's
span is current while the generator runs, and ends with it.

The core's :class:`~tripwire._core.stream.StreamProxy` folds a provider's chunks into an LLM
call's result; a run is different: its body is code (nodes, tools, model calls) that runs
*inside* each ``next()``, so the span must be the current span then — whatever the body
starts (an LLM client's span, a thread or task that copies the context) nests under it — and
not in between, where the application's own code runs. The proxy behaves like the generator
(iteration, ``send``/``throw``/``close``, the async variants) and ends the span exactly once:
exhausted, failed, closed, or garbage-collected after an early ``break`` (not a failure).
Exceptions pass through untouched.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import wrapt

from tripwire._core.lifecycle import LiveSpan


def _finish(live: LiveSpan[Any]) -> None:
    live.finish(None)


class ActiveGenerator(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps a generator or an async generator whose run ``live`` describes."""

    def __init__(self, wrapped: Any, live: LiveSpan[Any]) -> None:
        super().__init__(wrapped)
        self._self_live = live
        # Ends the span if the app drops the generator without exhausting or closing it.
        self._self_finalizer = weakref.finalize(self, _finish, live)

    def _self_end(self, exc: BaseException | None) -> None:
        finalizer = self._self_finalizer
        if finalizer.alive:
            finalizer.detach()
            if exc is None:
                self._self_live.finish(None)
            else:
                self._self_live.fail(exc)

    def _self_stopped(self, exc: BaseException) -> None:
        """A step raised: the run is over; exhausted or closed is not a failure."""
        done = isinstance(exc, (StopIteration, StopAsyncIteration, GeneratorExit))
        self._self_end(None if done else exc)

    def _self_run(self, step: Callable[..., Any], *args: Any) -> Any:
        token = self._self_live.activate()
        try:
            return step(*args)
        except BaseException as exc:
            self._self_stopped(exc)
            raise
        finally:
            self._self_live.deactivate(token)

    # --- sync -----------------------------------------------------------------------------
    def __iter__(self) -> ActiveGenerator:
        return self

    def __next__(self) -> Any:
        return self._self_run(self.__wrapped__.__next__)

    def send(self, value: Any) -> Any:
        return self._self_run(self.__wrapped__.send, value)

    def throw(self, *args: Any) -> Any:
        return self._self_run(self.__wrapped__.throw, *args)

    def close(self) -> Any:
        try:
            return self._self_run(self.__wrapped__.close)
        finally:
            self._self_end(None)  # closed early: the run stopped, it did not fail

    # --- async ----------------------------------------------------------------------------
    def __aiter__(self) -> ActiveGenerator:
        return self

    async def _self_arun(self, step: Callable[..., Any], *args: Any) -> Any:
        token = self._self_live.activate()
        try:
            return await step(*args)
        except BaseException as exc:
            self._self_stopped(exc)
            raise
        finally:
            self._self_live.deactivate(token)

    async def __anext__(self) -> Any:
        return await self._self_arun(self.__wrapped__.__anext__)

    async def asend(self, value: Any) -> Any:
        return await self._self_arun(self.__wrapped__.asend, value)

    async def athrow(self, *args: Any) -> Any:
        return await self._self_arun(self.__wrapped__.athrow, *args)

    async def aclose(self) -> Any:
        try:
            return await self._self_arun(self.__wrapped__.aclose)
        finally:
            self._self_end(None)


__all__ = ["ActiveGenerator"]
