"""The lifecycle of every span tripwire makes, and the one wrapper that drives it.

:class:`LiveSpan` owns one span from start to end: it starts it, makes it current while the
wrapped call runs (``with live:``), and ends it exactly once whatever path the call takes —
the first of :meth:`~LiveSpan.finish` / :meth:`~LiveSpan.fail` wins, across threads and
stream finalizers. LLM calls (``invocation.LLMCall``) and retrieval / tool executions
(``operations.OperationSpan``) only add what they record: attributes, metrics, content.

:func:`span_wrapper` is the one wrapt wrapper, sync or async. A :class:`CallSpans` says how one
kind of call starts its span and completes it; everything else is here once: the
``suppress_instrumentation()`` check, the pass-through of calls that get no span, making the
span current, failing it with the call's exception, and handing the call's result and
exceptions back untouched.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
from abc import ABC, abstractmethod
from asyncio import CancelledError
from collections.abc import Callable
from typing import Any, Generic, Literal, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode

from tripwire import semconv
from tripwire._core import content
from tripwire._core.accounting import start_span
from tripwire._core.fields import safe_attributes, safe_text
from tripwire._core.guard import guard, log_failure

# The wrapt wrapper signature: (wrapped, instance, args, kwargs) -> what the call returns.
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

R = TypeVar("R")  # what a call's outcome is read into (Result, OperationResult)
S = TypeVar("S", bound="LiveSpan[Any]")


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status of a provider error, from the public fields SDK errors carry
    (``status_code``: openai, anthropic; ``code``: google-genai; botocore's response)."""
    for value in (getattr(exc, "status_code", None), getattr(exc, "code", None)):
        if type(value) is int and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if type(value) is int:
            return value
    return None


def error_description(exc: BaseException, error_type: str | None) -> str:
    """The status description of a failed span. With content capture off it says only what
    tripwire itself knows — the error type and the HTTP status — never the message: provider
    error bodies echo the request (prompts, keys). With capture on, the message passes through
    redaction and the content cap like any captured text."""
    kind = error_type or type(exc).__qualname__
    if content.capture_mode().enabled:
        message = content.clean_text(str(exc))
        return f"{kind}: {message}" if message else kind
    status = _status_code(exc)
    return f"{kind} (HTTP {status})" if status is not None else kind


# How many coroutines of the current task's await chain are searched for a timeout.
_MAX_AWAIT_CHAIN = 64


def cancelled_by_timeout() -> bool:
    """Whether the cancellation being handled in this task comes from an expired
    ``asyncio.timeout()`` / ``timeout_at()`` (and ``wait_for`` on 3.12+, built on it).

    The wrapped call sees only ``CancelledError``; the enclosing ``Timeout`` turns it into
    ``TimeoutError`` when its ``async with`` block exits, after our span has ended. While the
    cancellation unwinds, that block's ``Timeout`` is still held by a coroutine of this
    task's await chain (its ``__aexit__`` waits on the coroutine's stack, which the garbage
    collector's traversal reports): one that has ``expired()`` and whose task has no other
    cancellation pending (``cancelling()``, the uncancel protocol) is the cause. A plain
    ``task.cancel()`` — or one arriving inside a timeout that has not expired — stays a
    cancellation. CPython 3.11+; elsewhere (no ``asyncio.Timeout``) always False."""
    timeout_type = getattr(asyncio, "Timeout", None)
    if timeout_type is None:
        return False
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a sync call
        return False
    if task is None or getattr(task, "cancelling", lambda: 0)() != 1:
        return False
    coro: Any = task.get_coro()
    for _ in range(_MAX_AWAIT_CHAIN):
        if coro is None:
            return False
        for ref in gc.get_referents(coro):
            owner: Any = getattr(ref, "__self__", None)
            if type(owner) is timeout_type and owner.expired():
                return True
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
                or getattr(coro, "gi_yieldfrom", None))
    return False


class LiveSpan(ABC, Generic[R]):
    """One started span until it ends; subclasses record the outcome in :meth:`_record_end`."""

    __slots__ = ("_accounting", "_end_lock", "_ended", "_invalid", "_token", "span")

    def __init__(self, tracer: trace.Tracer, name: str, kind: SpanKind,
                 attributes: dict[str, Any]) -> None:
        self._ended = False
        self._end_lock = threading.Lock()
        self._token: object = None
        self._invalid: tuple[str, ...] = ()
        # What an SDK or a provider handed us may not be encodable (a lone surrogate in a
        # model name fails the whole OTLP batch): made safe here, once, for every span.
        self._flag_invalid(attributes, safe_attributes(attributes))
        # Not sampled, or no processor: the span accounts for itself as it ends.
        self.span, self._accounting = start_span(
            tracer, safe_text(name), kind, attributes, otel_context.get_current())

    def set_safe(self, attributes: dict[str, Any]) -> None:
        """Set ``attributes`` (a private dict) made encodable; what cannot be is flagged."""
        self._flag_invalid(attributes, safe_attributes(attributes))
        self.span.set_attributes(attributes)

    def _flag_invalid(self, attributes: dict[str, Any], dropped: Any) -> None:
        """``tripwire.invalid_attributes`` in ``attributes``: every key dropped on this span so
        far (at its start, from the response, named by the caller), not only the last ones."""
        named = attributes.get(semconv.TRIPWIRE_INVALID_ATTRIBUTES)
        if not dropped and not named:
            return
        keys = list(self._invalid)
        for key in (*(named if isinstance(named, (tuple, list)) else ()), *dropped):
            if isinstance(key, str) and key not in keys:
                keys.append(key)
        self._invalid = tuple(keys)
        attributes[semconv.TRIPWIRE_INVALID_ATTRIBUTES] = self._invalid

    @classmethod
    def try_start(cls: type[S], *args: Any) -> S | None:
        """``cls(*args)``, or None when starting it failed (logged; the call runs untraced)."""
        try:
            return cls(*args)
        except Exception:
            log_failure(cls.__name__ + " start")
            return None

    # --- context: current only while the wrapped call runs ---------------------------------
    def _context(self, ctx: Context) -> Context:
        """The context the wrapped call runs in; subclasses add their own markers."""
        return ctx

    def activate(self) -> object:
        """Make the span current; the token is for :meth:`deactivate`."""
        return otel_context.attach(self._context(trace.set_span_in_context(self.span)))

    @staticmethod
    def deactivate(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    # ``with live:`` around the wrapped call (activate/deactivate inlined: every call runs it)
    def __enter__(self) -> None:
        self._token = otel_context.attach(self._context(trace.set_span_in_context(self.span)))

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is not None:
            self.fail(exc)
        otel_context.detach(self._token)  # type: ignore[arg-type]
        return False  # the call's exception reaches the caller untouched

    # --- the end ------------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self._ended

    def _claim_end(self) -> bool:
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
            return True

    def finish(self, result: R | None = None) -> None:
        """End the span with the call's outcome (``None``: it could not be read)."""
        if self._claim_end():
            self._end(result, None)

    def fail(self, exc: BaseException, result: R | None = None) -> None:
        """End the span as failed by ``exc``; ``result``: what was received before it."""
        if self._claim_end():
            self._end(result, exc)

    def _end(self, result: R | None, exc: BaseException | None) -> None:
        try:
            error_type = None if exc is None else self.error_type_of(exc)
            self._record_end(result, error_type)
            if exc is not None:
                with guard("error attributes"):
                    self.span.set_attribute(semconv.ERROR_TYPE, error_type)  # type: ignore[arg-type]
                    self.span.set_status(
                        Status(StatusCode.ERROR, error_description(exc, error_type)))
        finally:
            # The span is ended before the processors run; a processor that raises (e.g. the
            # one an EnrichingSpanProcessor wraps) must not replace the app's result or error.
            with guard("span processors"):
                self.span.end()
            accounting = self._accounting
            if accounting is not None:
                accounting.ended(self.span)

    def error_type_of(self, exc: BaseException) -> str:
        """``error.type`` for ``exc``: its class name, as the official instrumentations do —
        except a cancellation by an expired ``asyncio.timeout()``, which the application
        sees as ``TimeoutError`` (see :func:`cancelled_by_timeout`)."""
        if isinstance(exc, CancelledError) and cancelled_by_timeout():
            return "TimeoutError"
        return type(exc).__qualname__

    @abstractmethod
    def _record_end(self, result: R | None, error_type: str | None) -> None:
        """Record the outcome (attributes, metrics) before the span ends; each step guarded,
        never raises."""


class CallSpans(Protocol[S]):
    """How one kind of call gets its span. Neither method raises (telemetry failures are
    logged), except a pre-call check that refuses the call on purpose (``BudgetExceededError``)."""

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> S | None:
        """The started span, or None: the call passes through untouched (not one of ours,
        nested in the same operation, or its mapping failed)."""

    def complete(self, live: S, result: Any) -> Any:
        """End ``live`` from the call's result; what the caller gets (the result itself, or a
        proxy of a stream that ends the span when consumed)."""


T = TypeVar("T")  # an instrumentor's telemetry (tracer, instruments)
M = TypeVar("M")  # how one method maps onto the core (CallMapping, OperationMapping)


class MappedSpans(Generic[T, M]):
    """The usual :class:`CallSpans`: one wrapped method's mapping and its instrumentor's
    telemetry; subclasses implement ``start`` and ``complete``."""

    __slots__ = ("mapping", "telemetry")

    def __init__(self, telemetry: T, mapping: M) -> None:
        self.telemetry = telemetry
        self.mapping = mapping


def span_wrapper(spans: CallSpans[Any], is_async: bool) -> Wrapper:
    """A wrapt wrapper for a sync or an async callable (the same steps; one awaits)."""
    start, complete = spans.start, spans.complete
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any,
                                args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            live = start(instance, args, kwargs) if is_instrumentation_enabled() else None
            if live is None:
                return await wrapped(*args, **kwargs)
            with live:
                result = await wrapped(*args, **kwargs)
            return complete(live, result)

        return async_wrapper

    def sync_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        live = start(instance, args, kwargs) if is_instrumentation_enabled() else None
        if live is None:
            return wrapped(*args, **kwargs)
        with live:
            result = wrapped(*args, **kwargs)
        return complete(live, result)

    return sync_wrapper


def is_async_callable(fn: Any) -> bool:
    """Whether ``fn`` (possibly already wrapped) is a coroutine function: decided once, when
    it is wrapped."""
    return inspect.iscoroutinefunction(inspect.unwrap(fn))
