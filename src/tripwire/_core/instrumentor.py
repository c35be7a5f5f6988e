"""The base every tripwire instrumentor shares: wrap on instrument(), unwrap on uninstrument().

Every instrumentor wraps its library the same way: a table of (module or modules, class,
method, mapping) :data:`Target` s handed to :func:`wrap_targets` with its telemetry; the
mapping (an LLM ``CallMapping``, an ``OperationMapping``) says how that method's spans start
and complete, and :func:`~tripwire._core.lifecycle.span_wrapper` does the rest.

``BaseInstrumentor`` is a singleton whose ``__init__`` runs again on every construction, so
the record of what was wrapped lives outside ``__init__`` (a second ``XInstrumentor()``
must not forget what the first one wrapped).
"""

from __future__ import annotations

import importlib
import inspect
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from tripwire import semconv
from tripwire._compat import STAINLESS_CLIENT_ATTR
from tripwire._core.fields import server_address_port
from tripwire._core.guard import guard, log_failure
from tripwire._core.lifecycle import CallSpans, Wrapper, is_async_callable, span_wrapper
from tripwire._core.telemetry import make_telemetry

if TYPE_CHECKING:  # imported where used: LLM instrumentors do not load retrieval/tool spans
    from tripwire._core.operations import OperationTelemetry

Wrapped = list[tuple[Any, str]]
T = TypeVar("T", contravariant=True)  # the telemetry an instrumentor made (tracer, instruments)


def resolve(modules: tuple[str, ...] | str, name: str) -> Any:
    """``name`` from the first of ``modules`` that has it; None when none does (another
    library version: the target is skipped)."""
    for module in (modules,) if isinstance(modules, str) else modules:
        try:
            return getattr(importlib.import_module(module), name)
        except Exception:
            continue
    return None


class SpanMapping(Protocol[T]):
    """How one wrapped method maps onto the core: its spans, given the instrumentor's
    telemetry and the method as the class defines it (for mappings that read its signature)."""

    def spans(self, telemetry: T, original: Callable[..., Any]) -> CallSpans[Any]: ...


# (module or candidate modules, class, method, mapping)
Target = tuple[tuple[str, ...] | str, str, str, SpanMapping[Any]]


def wrap_method(owner: Any, name: str, telemetry: Any, mapping: SpanMapping[Any]) -> None:
    """Wrap ``owner.name`` with the span wrapper of ``mapping``, sync or async as it is."""
    original = getattr(owner, name)
    wrapt.wrap_function_wrapper(owner, name, span_wrapper(
        mapping.spans(telemetry, original), is_async_callable(original)))


def wrap_targets(targets: Iterable[Target], telemetry: Any) -> Wrapped:
    """Wrap every target that this version of the library defines (missing ones are
    skipped); what was wrapped, for uninstrument().

    A method is wrapped on the class that defines it, once, even when two module paths lead
    to that class; one target that fails to wrap is logged and skipped.
    """
    wrapped: Wrapped = []
    for modules, class_name, method, mapping in targets:
        owner = resolve(modules, class_name)
        if owner is None or method not in owner.__dict__ or (owner, method) in wrapped:
            continue
        try:
            wrap_method(owner, method, telemetry, mapping)
        except Exception:
            log_failure("instrument " + class_name + "." + method)
            continue
        wrapped.append((owner, method))
    return wrapped


def hook_method(owner: Any, name: str, sync_hook: Wrapper, async_hook: Wrapper) -> bool:
    """Wrap ``owner.name`` — defined on ``owner`` itself — with the hook matching its kind
    (coroutine function or not); False when ``owner`` defines no such method."""
    method = owner.__dict__.get(name) if owner is not None else None
    if method is None:
        return False
    wrapt.wrap_function_wrapper(
        owner, name, async_hook if inspect.iscoroutinefunction(method) else sync_hook)
    return True


def unwrap_method(owner: Any, name: str) -> None:
    """Undo :func:`wrap_method` / :func:`hook_method` on ``owner.name``."""
    unwrap(owner, name)


class TripwireInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses set ``instruments`` and ``targets``, wrapped by :meth:`_wrap` with the
    instrumentor's :meth:`_telemetry`; one that wraps more (hooks, helpers) or otherwise
    overrides :meth:`_wrap`."""

    instruments: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def _telemetry(self, kwargs: dict[str, Any]) -> Any:
        """The tracer and instruments for instrument()'s providers, scoped by the
        instrumentor's module: an LLM instrumentor's :class:`Telemetry` (an operation
        instrumentor's, :class:`OperationInstrumentor`)."""
        return make_telemetry(
            type(self).__module__, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))

    def _wrap(self, **kwargs: Any) -> Wrapped:
        """Wrap the library's methods; return every (owner, attribute) wrapped."""
        return wrap_targets(self.targets, self._telemetry(kwargs))

    def _instrument(self, **kwargs: Any) -> None:
        self._wrapped = self._wrap(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name in self.__dict__.pop("_wrapped", []):
            with guard("uninstrument " + getattr(owner, "__name__", "?") + "." + name):
                unwrap_method(owner, name)


class OperationInstrumentor(TripwireInstrumentor):
    """An instrumentor of retrieval and tool operations (vector stores, tool calls)."""

    def _telemetry(self, kwargs: dict[str, Any]) -> OperationTelemetry:
        from tripwire._core.operations import make_operation_telemetry

        return make_operation_telemetry(
            type(self).__module__, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))


ClientInfo = tuple[str, dict[str, Any]]  # provider name, server attributes


class ClientInfos:
    """Provider and server attributes of the client behind an SDK resource, worked out once
    per client object. Stainless SDKs (openai, anthropic) by default: ``resource._client``
    with its ``base_url``; other SDKs name their client attribute and base URL."""

    def __init__(self, default: str, provider_for: Callable[[Any, str | None], str], *,
                 client_attr: str = STAINLESS_CLIENT_ATTR,
                 base_url: Callable[[Any], Any] = lambda c: getattr(c, "base_url", "")) -> None:
        self._default = default
        self._provider_for = provider_for
        self._client_attr = client_attr
        self._base_url = base_url
        self._cache: weakref.WeakKeyDictionary[Any, ClientInfo] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self._cache)

    def __call__(self, resource: Any) -> ClientInfo:
        client = getattr(resource, self._client_attr, None)
        if client is None:
            return self._default, {}
        try:
            return self._cache[client]
        except (KeyError, TypeError):
            pass
        host, port = server_address_port(self._base_url(client) or "")
        attrs: dict[str, Any] = {}
        if host:
            attrs[semconv.SERVER_ADDRESS] = host
        if port:
            attrs[semconv.SERVER_PORT] = port
        info = (self._provider_for(client, host), attrs)
        try:
            self._cache[client] = info
        except TypeError:  # not weakly referenceable: computed again next time
            pass
        return info

    def start(self, resource: Any) -> tuple[str, dict[str, Any]]:
        """(provider, a new dict of the server attributes): a request's first attributes."""
        provider, server = self(resource)
        return provider, dict(server)
