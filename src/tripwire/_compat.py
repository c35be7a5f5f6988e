"""Every use of another library's private parts, in one place.

tripwire reaches past the public API of the SDKs it instruments (and of OpenTelemetry and
genai-prices) where no public hook exists. Each such access is a function, constant or
alias here, documented with the library versions it was checked against, and covered by
``tests/test_compat.py``, which fails as soon as an installed version no longer has the
private part. Nothing else in tripwire names a foreign private attribute, method or module.

Rules for this module:

- It is a leaf: importing it imports only the standard library and the OpenTelemetry API,
  never an SDK, genai-prices or the SDK's configuration machinery (those are imported when a
  function needs them, so that ``import tripwire`` stays cheap and works without them).
- A missing private part degrades to "not available" (``None``, ``False``, an empty tuple):
  the callers then skip the feature; they never fail the application.

Versions are those of the test environment when each access was last checked; the lower
bounds are the ``_instruments`` of each instrumentor or the dependency in ``pyproject.toml``.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

# The API's metrics module (the API only, as this module's rules allow): read by
# global_meter_provider() on every call of an instrumentor without a processor.
from opentelemetry.metrics import _internal as _metrics_internal

if TYPE_CHECKING:  # resolved lazily at run time, see __getattr__
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator as OTelSDKConfigurator


def _resolve(module: str, name: str) -> Any:
    """``module.name``, or None when the module or the name is missing (another version)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except Exception:  # ImportError, or a broken optional dependency of that module
        return None


# =============================================================================================
# OpenTelemetry API and SDK
# Checked against opentelemetry-api / opentelemetry-sdk 1.45.2.
# =============================================================================================

_SDK_CONFIGURATION = "opentelemetry.sdk._configuration"


def is_proxy_meter_provider(provider: Any) -> bool:
    """Whether ``provider`` is the API's placeholder ``_ProxyMeterProvider`` (no global meter
    provider set yet). Compared by class name: the class lives in the private
    ``opentelemetry.metrics._internal``. Checked: opentelemetry-api 1.45.2."""
    return type(provider).__name__ == "_ProxyMeterProvider"


_METER_PROVIDER_ENV = "OTEL_PYTHON_METER_PROVIDER"
# Read once: a provider named in the environment is loaded by the public getter's first call.
_meter_provider_named = _METER_PROVIDER_ENV in os.environ


def global_meter_provider() -> Any:
    """The global meter provider once one is set, else None.

    The public ``get_meter_provider()`` looks ``OTEL_PYTHON_METER_PROVIDER`` up in
    ``os.environ`` on every call while no provider is set (≈ 1.5 µs); instrumentors used on
    their own ask on every call. The private module global ``_METER_PROVIDER`` of
    ``opentelemetry.metrics._internal`` answers without it; when the environment names a
    provider, or the global is not there (another API version), the public getter is used.
    Checked: opentelemetry-api 1.45.2."""
    provider = getattr(_metrics_internal, "_METER_PROVIDER", _MISSING)
    if provider is _MISSING or (provider is None and _meter_provider_named):
        from opentelemetry.metrics import get_meter_provider

        public = get_meter_provider()
        return None if is_proxy_meter_provider(public) else public
    return provider


_MISSING = object()


def span_limits(span: Any) -> Any:
    """The ``SpanLimits`` an SDK ``Span`` was created with (private ``Span._limits``); None for
    a ``ReadableSpan`` snapshot or another implementation. Checked: opentelemetry-sdk 1.45.2."""
    return getattr(span, "_limits", None)


def on_ending_hook(processor: Any) -> Callable[[Any], None] | None:
    """The SDK's private ``SpanProcessor._on_ending(span)`` of ``processor`` (called before
    ``on_end`` while the span can still be changed), or None on SDKs without it.
    Checked: opentelemetry-sdk 1.45.2."""
    hook = getattr(processor, "_on_ending", None)
    return hook if callable(hook) else None


def exporter_timeout(exporter: Any) -> float | None:
    """The export timeout (seconds) an OTLP exporter keeps in its private ``_timeout``, or
    in its ``_client._timeout`` (gRPC); None when neither holds a positive number.
    Checked: opentelemetry-exporter-otlp-proto-http / -grpc 1.45.2."""
    for owner in (exporter, getattr(exporter, "_client", None)):
        value = getattr(owner, "_timeout", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def shutdown_batch_worker(processor: Any, timeout_millis: float) -> bool:
    """Shut a ``BatchSpanProcessor`` down waiting at most ``timeout_millis``: its private
    ``_batch_processor`` (the shared ``BatchProcessor``) takes ``shutdown(timeout_millis=)``.
    False, having done nothing, on SDKs without it (the caller then uses ``shutdown()``).
    Checked: opentelemetry-sdk 1.45.2."""
    inner = getattr(processor, "_batch_processor", None)
    shutdown = getattr(inner, "shutdown", None)
    if shutdown is None:
        return False
    try:
        if "timeout_millis" not in inspect.signature(shutdown).parameters:
            return False
    except (TypeError, ValueError):
        return False
    shutdown(timeout_millis=timeout_millis)
    return True


def _sdk_configuration() -> Any:
    # Imported on use: it pulls in the SDK's logs and metrics set-up (~35 ms), which
    # `import tripwire` must not pay.
    return importlib.import_module(_SDK_CONFIGURATION)


def __getattr__(name: str) -> Any:
    # ``OTelSDKConfigurator``: the SDK's private ``_OTelSDKConfigurator`` (the configurator
    # behind ``opentelemetry-instrument``), resolved on first use. Checked: sdk 1.45.2.
    if name == "OTelSDKConfigurator":
        return _sdk_configuration()._OTelSDKConfigurator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def initialize_components(**kwargs: Any) -> None:
    """The SDK's private ``_initialize_components(**kwargs)``: providers, exporters, sampler
    and resource from the ``OTEL_*`` variables. Checked: opentelemetry-sdk 1.45.2."""
    _sdk_configuration()._initialize_components(**kwargs)


def sdk_supports_export_processor() -> bool:
    """Whether ``_initialize_components`` takes ``export_span_processor`` (a factory of the
    processor put in front of each exporter), added in opentelemetry-sdk 1.40.
    Checked: opentelemetry-sdk 1.45.2."""
    init = getattr(_sdk_configuration(), "_initialize_components", None)
    try:
        return init is not None and "export_span_processor" in inspect.signature(init).parameters
    except (TypeError, ValueError):
        return False


def exporter_names(signal: str) -> list[str]:
    """``OTEL_{signal}_EXPORTER`` resolved the SDK's way (private ``_get_exporter_names``;
    ``signal`` is ``traces``, ``metrics`` or ``logs``). Checked: opentelemetry-sdk 1.45.2."""
    return list(_sdk_configuration()._get_exporter_names(signal))


def import_exporters(trace_names: list[str], metric_names: list[str],
                     log_names: list[str]) -> tuple[dict[str, Any], dict[str, Any],
                                                    dict[str, Any]]:
    """The exporter classes named, loaded from their entry points (private
    ``_import_exporters``): (span, metric, log) exporter classes by name.
    Checked: opentelemetry-sdk 1.45.2."""
    spans, metrics, logs = _sdk_configuration()._import_exporters(trace_names, metric_names,
                                                                  log_names)
    return spans, metrics, logs


def environment_sampler() -> Any:
    """The sampler ``OTEL_TRACES_SAMPLER`` / ``_ARG`` name, resolved as the SDK configurator
    does (private ``_get_sampler`` / ``_import_sampler``: entry points included); when unset
    or unresolvable, the SDK's default (private ``sampling._get_from_env_or_default``:
    ``parentbased_always_on``). Checked: opentelemetry-sdk 1.45.2."""
    from opentelemetry.sdk.trace import sampling

    config = _sdk_configuration()
    get_name = getattr(config, "_get_sampler", None)
    load = getattr(config, "_import_sampler", None)
    if get_name is not None and load is not None:
        sampler = load(get_name())
        if sampler is not None:
            return sampler
    default = getattr(sampling, "_get_from_env_or_default", None)
    return default() if default is not None else sampling.DEFAULT_ON


# =============================================================================================
# opentelemetry-instrumentation (the auto-instrumentation loader)
# Checked against opentelemetry-instrumentation 0.52b0, 0.53b0, 0.54b0 and 0.66b2.
# =============================================================================================

def dependency_conflict_error(conflict: Any) -> Exception | None:
    """A ``DependencyConflictError`` for ``conflict`` (a ``DependencyConflict``), for an
    instrumentor to raise to the auto-instrumentation loader, which then skips it without
    reporting it instrumented (0.53b0 and later catch it); None before 0.53b0 (no such
    exception, and the loader would let it stop the start-up).

    The loader logs a caught conflict through the conflict's private ``_log(logger, name)``
    (0.66b2: ERROR for a version conflict); tripwire has logged its own INFO line already,
    so the conflict raised logs at DEBUG. Checked: opentelemetry-instrumentation 0.66b2."""
    try:
        from opentelemetry.instrumentation.dependencies import DependencyConflictError
    except ImportError:
        return None
    quiet = copy.copy(conflict)
    try:
        quiet.__class__ = _quiet_conflict_class(type(conflict))
    except TypeError:
        quiet = conflict
    return DependencyConflictError(quiet)


_quiet_conflict_classes: dict[type, type] = {}


def _quiet_conflict_class(base: type) -> type:
    def _log(self: Any, logger: Any, instrumentor_name: str) -> None:
        logger.debug("Skipping instrumentation %s: %s", instrumentor_name, self)

    cls = _quiet_conflict_classes.get(base)
    if cls is None:
        cls = _quiet_conflict_classes[base] = type(
            "TripwireDependencyConflict", (base,), {"_log": _log})
    return cls


# =============================================================================================
# Stainless-generated SDKs: openai, anthropic
# Checked against openai 3.60.0 and anthropic 2.17.0.
# =============================================================================================

# A resource (``client.messages``, ``client.chat.completions``) keeps its client in ``_client``.
STAINLESS_CLIENT_ATTR = "_client"
# ``{package}._base_client.{SyncAPIClient,AsyncAPIClient}._sleep_for_retry``: called once per
# failed attempt, from inside the retry loop (keyword ``response`` or the live exception).
STAINLESS_RETRY_METHOD = "_sleep_for_retry"
# The SDKs' "not given" sentinels, by class name (openai's and anthropic's ``NotGiven`` and
# ``Omit``; the underscored names of older releases).
STAINLESS_SENTINEL_TYPES = frozenset({"NotGiven", "Omit", "_NotGiven", "_Omit"})
# Raw-response wrappers, by class name (they live in the private ``_response`` and
# ``_legacy_response`` modules): ``with_raw_response`` / ``with_streaming_response``.
STAINLESS_RAW_RESPONSE_TYPES = frozenset({"LegacyAPIResponse", "APIResponse", "AsyncAPIResponse"})


def stainless_api_clients(package: str) -> list[type]:
    """``{package}._base_client.SyncAPIClient`` and ``AsyncAPIClient`` (those present): the
    owners of the retry loop. Checked: openai 3.60.0, anthropic 2.17.0."""
    owners = (_resolve(f"{package}._base_client", name)
              for name in ("SyncAPIClient", "AsyncAPIClient"))
    return [owner for owner in owners if isinstance(owner, type)]


def helper_raw_stream(helper: Any) -> Any:
    """The stream an SDK stream helper (openai's ``ChatCompletionStream``, anthropic's
    ``MessageStream``…) iterates: its private ``_raw_stream``; None if it has none.
    Checked: openai 3.60.0, anthropic 2.17.0."""
    return getattr(helper, "_raw_stream", None)


def set_helper_raw_stream(helper: Any, stream: Any) -> None:
    """Make a helper that has not been iterated yet read ``stream`` instead (its event
    generator reads ``_raw_stream`` on the first event). Checked: anthropic 2.17.0."""
    helper._raw_stream = stream


# --- openai ----------------------------------------------------------------------------------
# The stream helpers behind ``chat.completions.stream()`` and ``responses.stream()``, in
# private modules: (module, class). Checked: openai 3.60.0.
OPENAI_HELPER_STREAMS: tuple[tuple[str, str], ...] = (
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream"),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream"),
    ("openai.lib.streaming.responses._responses", "ResponseStream"),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream"),
)


# --- anthropic -------------------------------------------------------------------------------
# The ``messages.stream()`` helpers, in private modules: (module, manager, stream class).
# Checked: anthropic 2.17.0 (and the 0.4x layout, same names).
ANTHROPIC_STREAM_HELPERS: tuple[tuple[str, str, str], ...] = (
    ("anthropic.lib.streaming._messages", "MessageStreamManager", "MessageStream"),
    ("anthropic.lib.streaming._messages", "AsyncMessageStreamManager", "AsyncMessageStream"),
    ("anthropic.lib.streaming._beta_messages", "BetaMessageStreamManager", "BetaMessageStream"),
    ("anthropic.lib.streaming._beta_messages", "BetaAsyncMessageStreamManager",
     "BetaAsyncMessageStream"),
)
# ``anthropic._base_client.BaseClient._tracer``: the property that gives the SDK's own tracer
# (anthropic >= 2 traces its API calls itself).
ANTHROPIC_TRACER_ATTR = "_tracer"


def _mangled(obj: Any, suffix: str) -> Iterator[str]:
    # A name-mangled private attribute (``self.__api_request`` in class ``X`` is stored as
    # ``_X__api_request``): matched by suffix, so that every manager class is covered.
    return (key for key in getattr(obj, "__dict__", ()) if key.endswith(suffix))


def stream_manager_request(manager: Any) -> Any:
    """The prepared request a ``MessageStreamManager`` (sync or async, beta or not) keeps in
    its private, name-mangled ``__api_request``: a callable returning the raw stream (sync)
    or a not-yet-awaited coroutine (async), sent when the manager is entered; None if there
    is none. Checked: anthropic 2.17.0."""
    key = next(_mangled(manager, "__api_request"), None)
    return None if key is None else getattr(manager, key)


def replace_stream_manager_request(manager: Any, request: Any) -> bool:
    """Put ``request`` (same kind: callable or awaitable) in place of the manager's
    ``__api_request``; False, changing nothing, if the manager has none.
    Checked: anthropic 2.17.0."""
    key = next(_mangled(manager, "__api_request"), None)
    if key is None:
        return False
    setattr(manager, key, request)
    return True


def stream_manager_stream(manager: Any) -> Any:
    """The helper stream a ``MessageStreamManager`` made on enter (private, name-mangled
    ``__stream``); None before enter. Checked: anthropic 2.17.0."""
    for key in _mangled(manager, "__stream"):
        stream = getattr(manager, key)
        if stream is not None:
            return stream
    return None


def helper_stream_closes_response(stream_class: type) -> bool:
    """Whether a ``MessageStream`` class builds its raw stream from the HTTP response (and
    its ``close()`` closes only the response: anthropic before ~0.45) rather than being
    handed the raw stream (``__init__(raw_stream, …)``, current SDKs). An ``__init__`` that
    cannot be inspected counts as the old kind. Checked: anthropic 2.17.0."""
    try:
        init = stream_class.__dict__.get("__init__")
        return init is not None and "raw_stream" not in inspect.signature(init).parameters
    except (TypeError, ValueError):
        return True


def anthropic_client_provider_name(client: Any) -> str | None:
    """The ``gen_ai.provider.name`` a client class declares for its own spans (private class
    attribute ``_gen_ai_provider_name``: ``anthropic``, ``aws.bedrock``, ``gcp.vertex_ai``…);
    None on SDKs before 2. Checked: anthropic 2.17.0."""
    named = getattr(type(client), "_gen_ai_provider_name", None)
    return named if isinstance(named, str) and named else None


def anthropic_tracer_owner() -> type | None:
    """``anthropic._base_client.BaseClient`` when it defines the ``_tracer`` property (the
    SDK's own spans), else None. Checked: anthropic 2.17.0."""
    owner = _resolve("anthropic._base_client", "BaseClient")
    if isinstance(owner, type) and isinstance(owner.__dict__.get(ANTHROPIC_TRACER_ATTR),
                                              property):
        return owner
    return None


# =============================================================================================
# google-genai
# Checked against google-genai 3.6.1.
# =============================================================================================

# ``Models`` / ``AsyncModels`` keep their ``BaseApiClient`` in ``_api_client``.
GENAI_CLIENT_ATTR = "_api_client"
# ``Models._generate_content``: one HTTP request of ``generate_content`` (automatic function
# calling and continuation call it several times inside one public call).
GENAI_HOP_METHOD = "_generate_content"
# One HTTP attempt of the SDK's retry loop: ``google.genai._api_client.BaseApiClient``'s
# ``_request_once`` / ``_async_request_once``.
GENAI_ATTEMPT_MODULE = "google.genai._api_client"
GENAI_ATTEMPT_CLASS = "BaseApiClient"
GENAI_ATTEMPT_METHODS = ("_request_once", "_async_request_once")


def genai_http_options(api_client: Any) -> Any:
    """A ``BaseApiClient``'s ``HttpOptions`` (private ``_http_options``: ``base_url``…);
    None if it has none. Checked: google-genai 3.6.1."""
    return getattr(api_client, "_http_options", None)


# =============================================================================================
# botocore
# Checked against botocore 1.44.8 (the hooks exist since well before 1.34).
# =============================================================================================

# ``botocore.client.BaseClient._make_api_call(operation_name, api_params)``: the one method
# every generated client method calls.
BOTOCORE_API_CALL: tuple[str, str, str] = ("botocore.client", "BaseClient", "_make_api_call")
# ``botocore.endpoint.Endpoint._needs_retry(attempts, operation_model, request_dict,
# response=None, caught_exception=None)``: True when botocore (any retry mode) will retry.
BOTOCORE_NEEDS_RETRY: tuple[str, str, str] = ("botocore.endpoint", "Endpoint", "_needs_retry")


def botocore_api_call_args(args: tuple[Any, ...], kwargs: dict[str, Any]
                           ) -> tuple[Any, dict[str, Any]]:
    """``(operation_name, api_params)`` of a ``_make_api_call`` call; ``{}`` for params that
    are not a dict. Checked: botocore 1.44.8."""
    operation = args[0] if args else kwargs.get("operation_name")
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    return operation, params if isinstance(params, dict) else {}


def botocore_needs_retry_args(args: tuple[Any, ...], kwargs: dict[str, Any]
                              ) -> tuple[Any, Any, Any]:
    """``(operation_model, response, caught_exception)`` of a ``_needs_retry`` call;
    ``response`` is ``(http response, parsed dict)`` or None. Checked: botocore 1.44.8."""
    operation_model = args[1] if len(args) > 1 else kwargs.get("operation_model")
    response = args[3] if len(args) > 3 else kwargs.get("response")
    caught = args[4] if len(args) > 4 else kwargs.get("caught_exception")
    return operation_model, response, caught


# =============================================================================================
# genai-prices
# Checked against genai-prices 0.2.3.
# =============================================================================================

# Memo tables a ``DataSnapshot`` fills on every lookup, hit or miss, without a bound.
GENAI_PRICES_MEMOS = ("_lookup_cache", "_provider_cache", "_provider_misses")


def _genai_prices_snapshot_module() -> Any:
    # Imported on use: loading the price data takes a while, and prices are optional.
    return importlib.import_module("genai_prices.data_snapshot")


def genai_prices_snapshot() -> Any:
    """The ``DataSnapshot`` genai-prices prices from (``data_snapshot.get_snapshot()``, not
    exported: the bundled data unless the application started ``UpdatePrices``).
    Checked: genai-prices 0.2.3."""
    return _genai_prices_snapshot_module().get_snapshot()


def genai_prices_find_model(snapshot: Any, model: str,
                            provider_id: str | None) -> tuple[Any, Any] | None:
    """``(Provider, ModelInfo)`` for ``model`` at ``provider_id`` (any provider when None),
    or None. ``DataSnapshot.find_provider_model(model_ref, provider, provider_id,
    provider_api_url)`` raises ``LookupError`` when nothing matches.
    Checked: genai-prices 0.2.3."""
    try:
        found = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    return (found[0], found[1]) if isinstance(found, tuple) and len(found) == 2 else None


def genai_prices_has_provider(snapshot: Any, provider_id: str) -> bool:
    """Whether genai-prices knows ``provider_id`` (``data_snapshot.find_provider_by_id``, not
    exported). Checked: genai-prices 0.2.3."""
    finder = _genai_prices_snapshot_module().find_provider_by_id
    return finder(snapshot.providers, provider_id) is not None


def bound_genai_prices_memos(snapshot: Any, limit: int) -> None:
    """Clear each of the snapshot's private memo tables that has grown past ``limit``
    (genai-prices memoises every model name it is asked about, forever).
    Checked: genai-prices 0.2.3."""
    for name in GENAI_PRICES_MEMOS:
        memo = getattr(snapshot, name, None)
        if memo is not None and hasattr(memo, "clear") and len(memo) > limit:
            memo.clear()


def is_tiered_prices(rate: Any) -> bool:
    """Whether ``rate`` is a ``genai_prices.types.TieredPrices`` (by class name: checking it
    must not import genai-prices). Checked: genai-prices 0.2.3."""
    return type(rate).__name__ == "TieredPrices"


__all__ = [
    "ANTHROPIC_STREAM_HELPERS",
    "ANTHROPIC_TRACER_ATTR",
    "BOTOCORE_API_CALL",
    "BOTOCORE_NEEDS_RETRY",
    "GENAI_ATTEMPT_CLASS",
    "GENAI_ATTEMPT_METHODS",
    "GENAI_ATTEMPT_MODULE",
    "GENAI_CLIENT_ATTR",
    "GENAI_HOP_METHOD",
    "GENAI_PRICES_MEMOS",
    "OPENAI_HELPER_STREAMS",
    "STAINLESS_CLIENT_ATTR",
    "STAINLESS_RAW_RESPONSE_TYPES",
    "STAINLESS_RETRY_METHOD",
    "STAINLESS_SENTINEL_TYPES",
    "OTelSDKConfigurator",
    "anthropic_client_provider_name",
    "anthropic_tracer_owner",
    "botocore_api_call_args",
    "botocore_needs_retry_args",
    "bound_genai_prices_memos",
    "exporter_names",
    "exporter_timeout",
    "genai_http_options",
    "genai_prices_find_model",
    "genai_prices_has_provider",
    "genai_prices_snapshot",
    "helper_raw_stream",
    "helper_stream_closes_response",
    "import_exporters",
    "initialize_components",
    "is_proxy_meter_provider",
    "is_tiered_prices",
    "on_ending_hook",
    "replace_stream_manager_request",
    "sdk_supports_export_processor",
    "set_helper_raw_stream",
    "shutdown_batch_worker",
    "span_limits",
    "stainless_api_clients",
    "stream_manager_request",
    "stream_manager_stream",
]
