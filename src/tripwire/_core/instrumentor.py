"""The base every tripwire instrumentor shares: wrap on instrument(), unwrap on uninstrument().

``BaseInstrumentor`` is a singleton whose ``__init__`` runs again on every construction, so
the record of what was wrapped lives outside ``__init__`` (a second ``XInstrumentor()``
must not forget what the first one wrapped).
"""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from tripwire import semconv
from tripwire._core.fields import server_address_port
from tripwire._core.guard import guard

Wrapped = list[tuple[Any, str]]


def resolve(modules: tuple[str, ...] | str, name: str) -> Any:
    """``name`` from the first of ``modules`` that has it; None when none does (another
    library version: the target is skipped)."""
    for module in (modules,) if isinstance(modules, str) else modules:
        try:
            return getattr(importlib.import_module(module), name)
        except Exception:
            continue
    return None


class TripwireInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses set ``instruments`` and implement :meth:`_wrap`."""

    instruments: tuple[str, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        """Wrap the library's methods; return every (owner, attribute) wrapped."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        self._wrapped = self._wrap(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name in self.__dict__.pop("_wrapped", []):
            with guard("uninstrument " + getattr(owner, "__name__", "?") + "." + name):
                unwrap(owner, name)


ClientInfo = tuple[str, dict[str, Any]]  # provider name, server attributes


class ClientInfos:
    """Provider and server attributes of the client behind an SDK resource, worked out once
    per client object. Stainless SDKs (openai, anthropic) by default: ``resource._client``
    with its ``base_url``; other SDKs name their client attribute and base URL."""

    def __init__(self, default: str, provider_for: Callable[[Any, str | None], str], *,
                 client_attr: str = "_client",
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
