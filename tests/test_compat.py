"""Every private part of another library that tripwire uses (``tripwire._compat``) is still
there and behaves as tripwire relies on, in the installed versions.

A failure here names the library release that changed a private part: update
``tripwire._compat`` (and its "Checked" versions) before anything else.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import _compat

# --- OpenTelemetry ---------------------------------------------------------------------------


def test_proxy_meter_provider_is_recognised() -> None:
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider

    assert _compat.is_proxy_meter_provider(_ProxyMeterProvider())
    assert not _compat.is_proxy_meter_provider(MeterProvider())


_GLOBAL_METER_PROVIDER = """
import json, sys
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from tripwire import _compat
before = _compat.global_meter_provider()
provider = MeterProvider()
metrics.set_meter_provider(provider)
print(json.dumps([before is None, _compat.global_meter_provider() is provider]))
"""


def test_global_meter_provider_none_until_set_then_the_provider() -> None:
    # A fresh interpreter: the global can be set once per process.
    env = {k: v for k, v in os.environ.items() if k != "OTEL_PYTHON_METER_PROVIDER"}
    done = subprocess.run([sys.executable, "-c", _GLOBAL_METER_PROVIDER], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [True, True]


def test_global_meter_provider_named_in_the_environment_is_loaded() -> None:
    env = {**os.environ, "OTEL_PYTHON_METER_PROVIDER": "sdk_meter_provider"}
    code = ("from tripwire import _compat; p = _compat.global_meter_provider(); "
            "print(type(p).__module__ + '.' + type(p).__name__)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip().endswith(".MeterProvider")
    assert done.stdout.startswith("opentelemetry.sdk.metrics")


def test_span_limits_of_an_sdk_span() -> None:
    provider = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=7))
    span = provider.get_tracer("t").start_span("s")
    try:
        limits = _compat.span_limits(span)
        assert isinstance(limits, SpanLimits)
        assert limits.max_span_attribute_length == 7
    finally:
        span.end()
    assert _compat.span_limits(ReadableSpan(name="snapshot")) is None


def test_on_ending_hook_is_called_by_the_sdk_before_on_end() -> None:
    calls: list[str] = []

    class Recording(SimpleSpanProcessor):
        def _on_ending(self, span: Any) -> None:
            calls.append("on_ending")

        def on_end(self, span: ReadableSpan) -> None:
            calls.append("on_end")

    processor = Recording(InMemorySpanExporter())
    assert _compat.on_ending_hook(processor) is not None
    assert _compat.on_ending_hook(object()) is None
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("s").end()
    assert calls == ["on_ending", "on_end"]
    # the SDK's own processors have the hook too (the enrichment processor forwards to it)
    assert _compat.on_ending_hook(BatchSpanProcessor(InMemorySpanExporter())) is not None


def test_exporter_timeouts() -> None:
    http = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    assert _compat.exporter_timeout(http.OTLPSpanExporter(timeout=3)) == 3.0
    grpc = pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
    assert _compat.exporter_timeout(grpc.OTLPSpanExporter(timeout=4)) == 4.0
    assert _compat.exporter_timeout(InMemorySpanExporter()) is None


def test_batch_worker_shutdown_takes_a_timeout() -> None:
    exporter = InMemorySpanExporter()
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("queued").end()
    assert _compat.shutdown_batch_worker(processor, 1000) is True
    assert [s.name for s in exporter.get_finished_spans()] == ["queued"]  # final flush
    assert _compat.shutdown_batch_worker(object(), 1000) is False


def test_sdk_configurator_passes_its_arguments_to_initialize_components(monkeypatch) -> None:
    from opentelemetry.sdk import _configuration

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(_configuration, "_initialize_components",
                        lambda **kwargs: seen.append(kwargs))
    configurator = _compat.OTelSDKConfigurator
    assert configurator is _configuration._OTelSDKConfigurator
    configurator().configure(export_span_processor="factory")
    assert seen == [{"export_span_processor": "factory"}]
    _compat.initialize_components(trace_exporter_names=[])
    assert seen[-1] == {"trace_exporter_names": []}


def test_initialize_components_parameters() -> None:
    from opentelemetry.sdk import _configuration

    params = inspect.signature(_configuration._initialize_components).parameters
    for name in ("trace_exporter_names", "metric_exporter_names", "export_span_processor"):
        assert name in params
    assert _compat.sdk_supports_export_processor() is True


def test_exporter_names_and_classes(monkeypatch) -> None:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    monkeypatch.setitem(os.environ, "OTEL_TRACES_EXPORTER", "console")
    assert _compat.exporter_names("traces") == ["console"]
    spans, metrics, logs = _compat.import_exporters(["console"], [], [])
    assert spans == {"console": ConsoleSpanExporter}
    assert metrics == {} and logs == {}


def test_compat_does_not_import_sdks_or_the_sdk_configuration() -> None:
    import subprocess
    import sys

    code = ("import sys, tripwire._compat; print(sorted(m for m in ('anthropic', 'openai', "
            "'botocore', 'genai_prices', 'google.genai', 'opentelemetry.sdk._configuration') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _RawStream:
    """Stands for the SDK's ``Stream``: iterated by the helper, closed by it."""

    def __init__(self) -> None:
        self.iterated = False
        self.closed = False
        self.response = None

    def __iter__(self) -> Any:
        self.iterated = True
        return iter(())

    def close(self) -> None:
        self.closed = True


# --- Stainless SDKs (openai, anthropic) ------------------------------------------------------

@pytest.mark.parametrize("package", ["openai", "anthropic"])
def test_stainless_resources_keep_their_client(package: str) -> None:
    sdk = pytest.importorskip(package)
    client = sdk.OpenAI(api_key="k") if package == "openai" else sdk.Anthropic(api_key="k")
    resource = client.chat.completions if package == "openai" else client.messages
    assert getattr(resource, _compat.STAINLESS_CLIENT_ATTR) is client


@pytest.mark.parametrize("package", ["openai", "anthropic"])
def test_stainless_retry_loop(package: str) -> None:
    pytest.importorskip(package)
    sync_client, async_client = _compat.stainless_api_clients(package)
    assert sync_client.__name__ == "SyncAPIClient" and async_client.__name__ == "AsyncAPIClient"
    for owner in (sync_client, async_client):
        method = owner.__dict__[_compat.STAINLESS_RETRY_METHOD]
        assert "response" in inspect.signature(method).parameters  # read by keyword
    assert inspect.iscoroutinefunction(async_client.__dict__[_compat.STAINLESS_RETRY_METHOD])
    assert _compat.stainless_api_clients("tripwire_no_such_sdk") == []


@pytest.mark.parametrize("package", ["openai", "anthropic"])
def test_stainless_sentinels_and_raw_responses_by_name(package: str) -> None:
    sdk = pytest.importorskip(package)
    assert type(sdk.NOT_GIVEN).__name__ in _compat.STAINLESS_SENTINEL_TYPES
    assert type(sdk.omit).__name__ in _compat.STAINLESS_SENTINEL_TYPES
    from tripwire._core.instrumentor import resolve

    names = {cls.__name__ for cls in (resolve(f"{package}._response", "APIResponse"),
                                      resolve(f"{package}._response", "AsyncAPIResponse"))}
    assert names == {"APIResponse", "AsyncAPIResponse"}
    # with_raw_response's type of 1.x SDKs (openai keeps it; anthropic 2 dropped it)
    legacy = resolve(f"{package}._legacy_response", "LegacyAPIResponse")
    if legacy is not None:
        names.add(legacy.__name__)
    assert names <= _compat.STAINLESS_RAW_RESPONSE_TYPES


def test_openai_helper_streams_read_their_raw_stream() -> None:
    pytest.importorskip("openai")
    from tripwire._core.instrumentor import resolve

    for module, name in _compat.OPENAI_HELPER_STREAMS:
        cls = resolve(module, name)
        assert cls is not None, (module, name)
        assert "close" in cls.__dict__
        assert "raw_stream" in inspect.signature(cls.__init__).parameters
    from openai import omit
    from openai.lib.streaming.chat._completions import ChatCompletionStream

    raw = _RawStream()
    helper = ChatCompletionStream(raw_stream=raw, response_format=omit, input_tools=omit)
    assert _compat.helper_raw_stream(helper) is raw


# --- anthropic -------------------------------------------------------------------------------

def test_anthropic_stream_helpers_exist() -> None:
    pytest.importorskip("anthropic")
    from tripwire._core.instrumentor import resolve

    for module, manager, stream in _compat.ANTHROPIC_STREAM_HELPERS:
        manager_cls, stream_cls = resolve(module, manager), resolve(module, stream)
        assert manager_cls is not None and stream_cls is not None, (module, manager, stream)
        is_async = "__aexit__" in manager_cls.__dict__
        assert ("__aenter__" if is_async else "__enter__") in manager_cls.__dict__
        assert "close" in stream_cls.__dict__
        assert _compat.helper_stream_closes_response(stream_cls) is False  # current SDKs


def test_anthropic_stream_manager_request_and_stream() -> None:
    pytest.importorskip("anthropic")
    from anthropic import NOT_GIVEN
    from anthropic.lib.streaming._messages import MessageStream, MessageStreamManager

    first, second = _RawStream(), _RawStream()

    def request() -> Any:
        return first

    manager = MessageStreamManager(request, output_format=NOT_GIVEN)
    assert _compat.stream_manager_request(manager) is request
    assert _compat.stream_manager_stream(manager) is None  # not entered yet
    assert _compat.replace_stream_manager_request(manager, lambda: second) is True
    with manager as stream:
        assert isinstance(stream, MessageStream)
        assert _compat.stream_manager_stream(manager) is stream
        assert _compat.helper_raw_stream(stream) is second  # the replacement was sent
    assert second.closed and not first.closed
    assert _compat.stream_manager_request(object()) is None
    assert _compat.replace_stream_manager_request(object(), request) is False


def test_anthropic_async_stream_manager_request() -> None:
    pytest.importorskip("anthropic")
    from anthropic.lib.streaming._messages import AsyncMessageStreamManager

    class _AsyncRaw:
        response = None

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> Any:
            raise StopAsyncIteration

        async def close(self) -> None:
            pass

    raw = _AsyncRaw()

    async def send() -> Any:
        return raw

    async def main() -> None:
        original = send()
        manager = AsyncMessageStreamManager(original)
        assert _compat.stream_manager_request(manager) is original
        original.close()  # never awaited: replaced below

        async def replacement() -> Any:
            return raw

        assert _compat.replace_stream_manager_request(manager, replacement())
        async with manager as stream:
            assert _compat.helper_raw_stream(stream) is raw

    asyncio.run(main())


def test_anthropic_helper_reads_a_raw_stream_set_before_iteration() -> None:
    pytest.importorskip("anthropic")
    from anthropic import NOT_GIVEN
    from anthropic.lib.streaming._messages import MessageStream

    given, adopted = _RawStream(), _RawStream()
    stream = MessageStream(given, output_format=NOT_GIVEN)
    _compat.set_helper_raw_stream(stream, adopted)
    assert list(stream) == []
    assert adopted.iterated and not given.iterated


def test_anthropic_client_provider_names() -> None:
    anthropic = pytest.importorskip("anthropic")

    assert _compat.anthropic_client_provider_name(anthropic.Anthropic(api_key="k")) == "anthropic"
    bedrock = pytest.importorskip("anthropic.lib.bedrock")
    client = object.__new__(bedrock.AnthropicBedrock)  # no AWS credentials needed
    assert _compat.anthropic_client_provider_name(client) == "aws.bedrock"
    assert _compat.anthropic_client_provider_name(object()) is None


def test_anthropic_tracer_property() -> None:
    anthropic = pytest.importorskip("anthropic")
    from anthropic._base_client import BaseClient

    owner = _compat.anthropic_tracer_owner()
    assert owner is BaseClient
    prop = owner.__dict__[_compat.ANTHROPIC_TRACER_ATTR]
    assert isinstance(prop, property)
    client = anthropic.Anthropic(api_key="k")
    tracer = prop.__get__(client, type(client))
    assert tracer is None or hasattr(tracer, "start_span")


# --- google-genai ----------------------------------------------------------------------------

def test_google_genai_private_parts() -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import models

    from tripwire._core.instrumentor import resolve

    client = genai.Client(api_key="k")
    api_client = getattr(client.models, _compat.GENAI_CLIENT_ATTR)
    assert api_client is getattr(client.aio.models, _compat.GENAI_CLIENT_ATTR)
    assert "generativelanguage" in str(_compat.genai_http_options(api_client).base_url)
    for owner in (models.Models, models.AsyncModels):
        assert _compat.GENAI_HOP_METHOD in owner.__dict__
    attempt_owner = resolve(_compat.GENAI_ATTEMPT_MODULE, _compat.GENAI_ATTEMPT_CLASS)
    assert attempt_owner is type(api_client) or isinstance(api_client, attempt_owner)
    sync_attempt, async_attempt = (attempt_owner.__dict__[name]
                                   for name in _compat.GENAI_ATTEMPT_METHODS)
    assert not inspect.iscoroutinefunction(sync_attempt)
    assert inspect.iscoroutinefunction(async_attempt)


# --- botocore --------------------------------------------------------------------------------

def test_botocore_make_api_call_is_what_client_methods_call(monkeypatch) -> None:
    boto3 = pytest.importorskip("boto3")
    from tripwire._core.instrumentor import resolve

    module, class_name, method = _compat.BOTOCORE_API_CALL
    owner = resolve(module, class_name)
    assert list(inspect.signature(getattr(owner, method)).parameters) == [
        "self", "operation_name", "api_params"]
    seen: list[tuple[Any, dict[str, Any]]] = []

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(_compat.botocore_api_call_args(args, kwargs))
        return {}

    monkeypatch.setattr(owner, method, record)
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    client.converse(modelId="m", messages=[])
    assert seen == [("Converse", {"modelId": "m", "messages": []})]


def test_botocore_needs_retry_signature() -> None:
    pytest.importorskip("botocore")
    from tripwire._core.instrumentor import resolve

    module, class_name, method = _compat.BOTOCORE_NEEDS_RETRY
    owner = resolve(module, class_name)
    assert list(inspect.signature(getattr(owner, method)).parameters) == [
        "self", "attempts", "operation_model", "request_dict", "response", "caught_exception"]
    # the wrapper sees the arguments without self
    assert _compat.botocore_needs_retry_args((1, "model", {}, "resp", "exc"), {}) == (
        "model", "resp", "exc")
    assert _compat.botocore_needs_retry_args(
        (1,), {"operation_model": "model", "request_dict": {}, "response": "resp"}) == (
        "model", "resp", None)


# --- genai-prices ----------------------------------------------------------------------------

def test_genai_prices_lookups_and_memos() -> None:
    pytest.importorskip("genai_prices")

    snapshot = _compat.genai_prices_snapshot()
    for name in _compat.GENAI_PRICES_MEMOS:
        memo = getattr(snapshot, name)
        assert hasattr(memo, "clear") and hasattr(memo, "__len__")
    found = _compat.genai_prices_find_model(snapshot, "gpt-4o", "openai")
    assert found is not None and found[0].id == "openai"
    assert _compat.genai_prices_find_model(snapshot, "gpt-4o", None) is not None
    assert _compat.genai_prices_find_model(snapshot, "tripwire-no-such-model", "openai") is None
    assert _compat.genai_prices_has_provider(snapshot, "openai")
    assert not _compat.genai_prices_has_provider(snapshot, "tripwire-no-such-provider")
    # the lookups above were memoised, without a bound; bounding clears them
    assert any(len(getattr(snapshot, name)) for name in _compat.GENAI_PRICES_MEMOS)
    _compat.bound_genai_prices_memos(snapshot, 0)
    assert not any(len(getattr(snapshot, name)) for name in _compat.GENAI_PRICES_MEMOS)


def test_genai_prices_tiered_prices_by_name() -> None:
    types = pytest.importorskip("genai_prices.types")

    rate = types.TieredPrices(base=Decimal(1), tiers=[types.Tier(start=200_000, price=Decimal(2))])
    assert _compat.is_tiered_prices(rate)
    assert not _compat.is_tiered_prices(Decimal(1))
    assert rate.base == Decimal(1) and rate.tiers[0].start == 200_000  # fields tripwire reads
