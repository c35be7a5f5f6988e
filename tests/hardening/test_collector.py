"""Collector down or slow: the application does not wait for telemetry export.

The spans go through the real set-up path — ``tripwire.configure(tracer_provider=...)`` with
the exporter built from ``OTEL_*`` (the OTLP/HTTP exporter) — to a collector that either
refuses connections (closed port) or accepts them and never answers (a black hole).

Timing checks and why they are not flaky: every bound is derived from the exporter timeout
``T`` (``OTEL_EXPORTER_OTLP_TIMEOUT``), not from how fast this machine is. A call that waited
for an export would take about ``T`` (black hole) — the latency checks allow a fraction of
``T`` for the slowest calls and several times the healthy-collector baseline (measured in the
same test) for the median; a fake-server call takes milliseconds. Shutdown is allowed ``T``
plus one second of grace, while the SDK's own ``BatchSpanProcessor.shutdown()`` would wait
for the in-flight export and then one more ``T`` per queued batch (up to 30 s).
"""

from __future__ import annotations

import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from hardening.harness import ANSWER, LLMCase, Pipeline, instrumented, llm_params, make_pipeline
from processors.otlp_receiver import OTLPReceiver
from tripwire import configuration
from tripwire.distro import BoundedShutdownBatchSpanProcessor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import get_runtime

TIMEOUT_S = 1.0  # OTEL_EXPORTER_OTLP_TIMEOUT
QUEUE = 16  # OTEL_BSP_MAX_QUEUE_SIZE
BATCH = 8  # OTEL_BSP_MAX_EXPORT_BATCH_SIZE
CALLS = 40


class BlackHole:
    """A TCP server that accepts connections, reads nothing back and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


class Refusing:
    """A port nothing listens on: connections are refused at once."""

    def __enter__(self) -> Refusing:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _otlp_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", str(TIMEOUT_S))
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(QUEUE))
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    get_runtime().configured_provider = None
    yield
    get_runtime().configured_provider = None


def _export_processor(provider: TracerProvider) -> BoundedShutdownBatchSpanProcessor:
    """The batch processor configure() built from OTEL_* (behind its EnrichingSpanProcessor)."""
    for processor in provider._active_span_processor._span_processors:
        if isinstance(processor, EnrichingSpanProcessor) and isinstance(
                processor.next_processor, BoundedShutdownBatchSpanProcessor):
            return processor.next_processor
    raise AssertionError("configure() added no OTLP batch processor")


def _timed_calls(case: LLMCase, pipeline: Pipeline) -> list[float]:
    latencies: list[float] = []
    with instrumented(case, pipeline) as env:
        client = env.client()
        for _ in range(CALLS):
            env.server.enqueue(case.ok(ANSWER))
            start = time.perf_counter()
            answer = case.call(client)
            latencies.append(time.perf_counter() - start)
            assert answer == ANSWER
        assert len(env.llm_spans()) == CALLS  # telemetry still produced for every call
    return latencies


def _configured(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    pipeline = make_pipeline()
    get_runtime().configured_provider = None
    assert configuration.configure(tracer_provider=pipeline.provider,
                                   meter_provider=pipeline.meter_provider) is pipeline.provider
    return pipeline


def _p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1]


@pytest.mark.parametrize("outage", [BlackHole, Refusing], ids=["black-hole", "refusing"])
@pytest.mark.parametrize("case", llm_params())
def test_calls_do_not_wait_for_an_unreachable_collector(
        case: LLMCase, outage: type[Any], pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Baseline: the same calls, the same set-up, a healthy collector — with room in the
    # queue for every span: on a loaded machine the export thread may fall behind 40 calls,
    # and a full 16-span queue drops spans, as it should, even with a healthy collector.
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(CALLS * 2))
    with OTLPReceiver() as receiver:
        healthy = _configured(receiver.endpoint, monkeypatch)
        baseline = _timed_calls(case, healthy)
        healthy.provider.shutdown()
        assert receiver.got_spans.wait(5)
    assert len([s for s in receiver.spans if s["attributes"].get("gen_ai.operation.name")]) \
        == CALLS
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(QUEUE))

    with outage() as collector, caplog.at_level(logging.WARNING):
        down = _configured(collector.endpoint, monkeypatch)
        batcher = _export_processor(down.provider)
        latencies = _timed_calls(case, down)
        queued = len(batcher._batch_processor._queue)
        started = time.perf_counter()
        down.provider.shutdown()
        shutdown_s = time.perf_counter() - started

    # Calls don't block on export: no slower than a few times the healthy baseline.
    assert statistics.median(latencies) <= 5 * statistics.median(baseline) + 0.25, \
        (baseline, latencies)
    assert _p90(latencies) < TIMEOUT_S / 2, latencies
    # The export queue stays bounded: what does not fit is dropped, not accumulated (at most
    # QUEUE spans wait and one batch is in flight, so at least CALLS - QUEUE - BATCH dropped).
    assert queued <= QUEUE < CALLS - BATCH
    # Shutdown is bounded by the exporter timeout, not by the number of queued batches.
    assert shutdown_s < TIMEOUT_S + 1.0, shutdown_s


@pytest.mark.parametrize("outage", [BlackHole, Refusing], ids=["black-hole", "refusing"])
def test_shutdown_with_full_default_queue_is_bounded(
        outage: type[Any], pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """SDK defaults (2048 queued, batches of 512): the plain BatchSpanProcessor would wait for
    the in-flight export plus four more, 30 s at most; ours waits one export timeout."""
    monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE")
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
    with outage() as collector:
        down = _configured(collector.endpoint, monkeypatch)
        tracer = down.provider.get_tracer("app")
        for i in range(3000):
            with tracer.start_as_current_span(f"chat m{i % 7}", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": f"m{i % 7}"}):
                pass
        assert len(down.spans()) == 3000
        assert len(_export_processor(down.provider)._batch_processor._queue) <= 2048
        started = time.perf_counter()
        down.provider.shutdown()
        shutdown_s = time.perf_counter() - started
    assert shutdown_s < TIMEOUT_S + 1.0, shutdown_s


_METRICS_SHUTDOWN_SCRIPT = """
import json, time
from opentelemetry import metrics
import tripwire
tracer_provider = tripwire.configure()   # builds both providers from OTEL_*
meter_provider = metrics.get_meter_provider()
counter = meter_provider.get_meter("app").create_counter("app.requests")
for i in range(10):
    counter.add(1, {"i": i})
time.sleep(0.5)   # a periodic export is in flight against the silent collector
started = time.perf_counter()
meter_provider.shutdown()
meter_s = time.perf_counter() - started
started = time.perf_counter()
tracer_provider.shutdown()
print(json.dumps({"meter_type": type(meter_provider).__name__, "meter_s": meter_s,
                  "tracer_s": time.perf_counter() - started}))
"""


def test_metrics_shutdown_against_a_silent_collector_is_bounded(tmp_path: Any) -> None:
    """The meter provider configure() builds from OTEL_* (in a subprocess: global providers
    are set once per process) waits for the in-flight export and the final one, each bounded
    by the export timeout — not the SDK's 30 s reader timeout."""
    import json
    import os
    import subprocess
    import sys

    with BlackHole() as collector:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
                   OTEL_EXPORTER_OTLP_TIMEOUT=str(TIMEOUT_S), OTEL_METRIC_EXPORT_INTERVAL="200",
                   OTEL_SERVICE_NAME="metrics-shutdown")
        done = subprocess.run([sys.executable, "-c", _METRICS_SHUTDOWN_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["meter_type"] == "MeterProvider"
    assert result["meter_s"] < 2 * TIMEOUT_S + 1.0, result
    assert result["tracer_s"] < TIMEOUT_S + 1.0, result
