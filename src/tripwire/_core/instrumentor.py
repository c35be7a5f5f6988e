"""The base every tripwire instrumentor shares: check the library, wrap on instrument(),
unwrap on uninstrument().

Every instrumentor wraps its library the same way: a table of (module or modules, class,
method, mapping) :data:`Target` s handed to :func:`wrap_targets` with its telemetry; the
mapping (an LLM ``CallMapping``, an ``OperationMapping``) says how that method's spans start
and complete, and :func:`~tripwire._core.lifecycle.span_wrapper` does the rest.

``BaseInstrumentor`` is a singleton whose ``__init__`` runs again on every construction, so
the record of what was wrapped lives outside ``__init__`` (a second ``XInstrumentor()``
must not forget what the first one wrapped).

Every instrumentor checks its own library and version in ``instrument()``, also when told to
skip the check (``opentelemetry-instrument`` passes ``skip_dep_check=True`` to every
instrumentor of a distribution that passed its ``instruments-any`` check, which one
supported library is enough for): outside the supported range, or absent, it wraps nothing
and logs one line at INFO. Wrappers are put on and taken off by :mod:`tripwire._core.patching`,
which removes only ours from a chain of wrappers.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry.instrumentation.dependencies import (
    DependencyConflict,
    get_dependency_conflicts,
)
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from packaging.requirements import InvalidRequirement, Requirement

from tripwire import semconv
from tripwire._compat import STAINLESS_CLIENT_ATTR, dependency_conflict_error
from tripwire._core import patching
from tripwire._core.fields import server_address_port
from tripwire._core.guard import guard, log_failure
from tripwire._core.lifecycle import CallSpans, Wrapper, is_async_callable, span_wrapper
from tripwire._core.telemetry import make_telemetry

if TYPE_CHECKING:  # imported where used: LLM instrumentors do not load retrieval/tool spans
    from tripwire._core.operations import OperationTelemetry

logger = logging.getLogger("tripwire")

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
    patching.wrap_function(owner, name, span_wrapper(
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
    patching.wrap_function(
        owner, name, async_hook if inspect.iscoroutinefunction(method) else sync_hook)
    return True


def unwrap_method(owner: Any, name: str) -> None:
    """Undo :func:`wrap_method` / :func:`hook_method` on ``owner.name``: our wrapper leaves
    the chain, wrappers other instrumentors put above or below it stay."""
    patching.unwrap(owner, name)


def library_conflict(instruments: Collection[str]) -> DependencyConflict | None:
    """Why the libraries ``instruments`` names cannot be instrumented (one missing, or
    installed outside its range), as OpenTelemetry's loader would say it; None when they can."""
    return get_dependency_conflicts(instruments) if instruments else None


def describe_conflict(instrumentor: str, conflict: DependencyConflict) -> str:
    """The one line saying why ``instrumentor`` wraps nothing: library, installed version,
    supported range."""
    required = str(conflict.required or "")
    try:
        name = Requirement(required).name
    except InvalidRequirement:
        name = required
    if conflict.found:
        return (f"tripwire: {instrumentor} instruments nothing: {conflict.found} is installed, "
                f"outside the supported range {required!r}")
    return (f"tripwire: {instrumentor} instruments nothing: {name} is not installed "
            f"(supported: {required!r})")


class TripwireInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses set ``instruments`` and ``targets``, wrapped by :meth:`_wrap` with the
    instrumentor's :meth:`_telemetry`; one that wraps more (hooks, helpers) or otherwise
    overrides :meth:`_wrap`."""

    instruments: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def instrument(self, **kwargs: Any) -> Any:
        """Instrument the library if it is installed in a supported version — whatever
        ``skip_dep_check`` says; otherwise wrap nothing and log why, once, at INFO.

        Called by ``opentelemetry-instrument`` (``skip_dep_check=True``, or
        ``raise_exception_on_conflict=True`` in opentelemetry-instrumentation 0.53–0.54),
        the refusal is raised as ``DependencyConflictError``, which the loader catches: it
        then does not report the library as instrumented. Loaders older than that exception
        (< 0.53b0) do not catch it; there nothing is raised.
        """
        if not self.is_instrumented_by_opentelemetry:
            conflict = library_conflict(self.instruments)
            if conflict is not None:
                logger.info(describe_conflict(type(self).__name__, conflict))
                error = dependency_conflict_error(conflict)
                if error is not None and (kwargs.get("skip_dep_check")
                                          or kwargs.get("raise_exception_on_conflict")):
                    raise error
                return None
        kwargs["skip_dep_check"] = True  # checked above
        return super().instrument(**kwargs)

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
