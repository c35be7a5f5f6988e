"""End to end on real components: workload -> OTLP -> rotel -> OTLP receiver here, and
workload /metrics -> Debian's Prometheus -> every dashboard panel's PromQL.

Run with ``make e2e`` (``pytest -m e2e tests/e2e``). Needs ``rotel`` (pip) and ``prometheus``
(apt); ``scripts/install-e2e-deps.sh`` installs both. Skips, naming what is missing, only
when a binary is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest

from tripwire import semconv as sc

sys.path.insert(0, str(Path(__file__).parent))
import promnames

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "collector-config" / "grafana" / "dashboards").glob("*.json"))
WORKLOAD = Path(__file__).parent / "workload.py"
SERVICE = "tripwire-e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rotel_agent() -> str | None:
    try:
        import rotel
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return str(path) if path.exists() else None


def _prometheus() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None,
          log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    detail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{detail}")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- the OTLP receiver behind rotel ------------------------------------------------------


class Received:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resource_spans: list[Any] = []
        self.resource_metrics: list[Any] = []

    def spans(self) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
        """(resource attributes, span, span attributes) of everything received so far."""
        with self.lock:
            out = []
            for rs in self.resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((resource, span, _attrs(span.attributes)))
            return out

    def metrics(self) -> dict[str, Any]:
        with self.lock:
            return {m.name: m for rm in self.resource_metrics for sm in rm.scope_metrics
                    for m in sm.metrics}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    grpc = pytest.importorskip("grpc")
    from opentelemetry.proto.collector.metrics.v1 import (
        metrics_service_pb2,
        metrics_service_pb2_grpc,
    )
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received = Received()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            with received.lock:
                received.resource_spans.extend(request.resource_spans)
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            with received.lock:
                received.resource_metrics.extend(request.resource_metrics)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


@pytest.fixture
def rotel(otlp_receiver: tuple[str, Received], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """rotel-agent forwarding to the receiver; yields its (gRPC, HTTP) OTLP endpoints."""
    agent = _rotel_agent()
    if agent is None:
        pytest.skip("rotel-agent not installed (pip install --pre rotel; scripts/install-e2e-deps.sh)")
    grpc_port, http_port = _free_port(), _free_port()
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(x for x in (libdir, env.get("LD_LIBRARY_PATH")) if x)
    log = tmp_path / "rotel.log"
    cmd = [agent, "start",
           "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
           "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
           "--exporter", "otlp",
           "--otlp-exporter-endpoint", otlp_receiver[0],
           "--otlp-exporter-protocol", "grpc",
           "--batch-timeout", "100ms",
           "--pid-file", str(tmp_path / "rotel.pid"),
           "--log-file", str(log)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", grpc_port), timeout=0.2).close()
                return True
            except OSError:
                return False

        _wait(listening, 15, "rotel-agent to listen", proc, log)
        yield f"http://127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    finally:
        _stop(proc)


def _prom_get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if path.startswith("/api/") else body.decode()


@pytest.fixture
def workload(rotel: tuple[str, str], tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[Any], Path]]:
    prom_port = _free_port()
    log = tmp_path / "workload.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(WORKLOAD), "--otlp", rotel[0], "--prometheus-port", str(prom_port),
             "--rounds", "0", "--interval", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _wait(lambda: "FIRST_ROUND_EXPORTED" in log.read_text(), 30, "the workload's first round",
              proc, log)
        yield prom_port, proc, log
    finally:
        _stop(proc)


@pytest.fixture
def prometheus(workload: tuple[int, subprocess.Popen[Any], Path], tmp_path: Path) -> Iterator[str]:
    binary = _prometheus()
    if binary is None:
        pytest.skip("prometheus not installed (apt-get install prometheus; scripts/install-e2e-deps.sh)")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    # job_name = the service's name: with direct scraping the job label is the service.
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {SERVICE}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{workload[0]}']\n")
    log = tmp_path / "prometheus.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                return "Ready" in _prom_get(base, "/-/ready")
            except OSError:
                return False

        _wait(ready, 20, "prometheus to be ready", proc, log)
        yield base
    finally:
        _stop(proc)


# --- the tests -----------------------------------------------------------------------------


def test_spans_and_metrics_arrive_intact_through_rotel(
    otlp_receiver: tuple[str, Received], workload: tuple[int, subprocess.Popen[Any], Path]
) -> None:
    received = otlp_receiver[1]

    def complete_trace() -> list[Any]:
        spans = received.spans()
        roots = [s for s in spans if s[1].name == "support request"]
        if not roots:
            return []
        trace_id = roots[0][1].trace_id
        same = [s for s in spans if s[1].trace_id == trace_id]
        return same if len(same) >= 12 else []

    spans = _wait(complete_trace, 20, "a complete trace through rotel", log=workload[2])
    for resource, _, _ in spans:
        assert resource[sc.SERVICE_NAME] == SERVICE
    by_name: dict[str, list[dict[str, Any]]] = {}
    for _, span, attrs in spans:
        by_name.setdefault(span.name, []).append(attrs)
    chats = by_name[f"chat {'gpt-4o-mini'}"]
    assert len(chats) == 4
    for attrs in chats:
        assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_CHAT
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == sc.PROVIDER_OPENAI
        assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
        assert attrs[sc.SERVER_ADDRESS] == "api.openai.com"
    ok = [a for a in chats if sc.GEN_AI_USAGE_INPUT_TOKENS in a]
    assert {a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] for a in ok} == {80, 200}
    assert any(a.get(sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES) == ("delete_account",) for a in chats)
    assert any(a.get(sc.TRIPWIRE_REFUSAL) is True for a in chats)
    assert any(a.get(sc.GEN_AI_RESPONSE_FINISH_REASONS) == ("content_filter",) for a in chats)
    assert any(a.get(sc.ERROR_TYPE) == "RateLimitError" for a in chats)
    (retrieval,) = by_name["retrieval faq"]
    assert retrieval[sc.TRIPWIRE_RETRIEVAL_EMPTY] is True
    tools = by_name["execute_tool lookup_order"]
    assert len(tools) == 3

    # added by EnrichingSpanProcessor before export (workload.enrich always wraps the
    # exporter in it), and intact after the collector
    priced = [a for a in ok if a.get(sc.TRIPWIRE_COST_USD) is not None]
    assert priced, "no tripwire.cost.usd on priced chat spans"
    assert all(a[sc.TRIPWIRE_COST_USD] > 0 for a in priced)
    (root,) = by_name["support request"]
    assert root[sc.TRIPWIRE_TRACE_LLM_CALLS] >= 3
    assert root[sc.TRIPWIRE_TRACE_INPUT_TOKENS] >= 111_000
    assert root.get(sc.TRIPWIRE_BUDGET_EXCEEDED) is True
    assert any(a.get(sc.TRIPWIRE_TOOL_LOOP) is True for a in tools)
    assert any(a.get(sc.TRIPWIRE_CONTEXT_WINDOW_WARNING) is True for a in chats)
    # the agent run: its rollup, and a call that could not be priced (no cost, flagged)
    (agent,) = by_name["invoke_agent billing"]
    assert agent[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert agent[sc.TRIPWIRE_AGENT_UNPRICED_CALLS] == 1
    (unpriced,) = by_name["chat private-model"]
    assert unpriced[sc.TRIPWIRE_COST_UNPRICED] is True
    assert sc.TRIPWIRE_COST_USD not in unpriced

    # Metrics: every metric the library emits arrived, with the unit the translation assumes.
    metrics = _wait(lambda: (m := received.metrics()) and
                    set(sc.EMITTED_METRICS) <= set(m) and m, 20,
                    "all metrics through rotel", log=workload[2])
    for name in sc.EMITTED_METRICS:
        kind, unit = promnames.INSTRUMENTS[name]
        metric = metrics[name]
        assert metric.unit == unit, (name, metric.unit)
        data = metric.WhichOneof("data")
        assert data == ("sum" if kind == promnames.COUNTER else "histogram"), (name, data)
        if data == "sum":
            assert metric.sum.is_monotonic
    duration = metrics[sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION].histogram
    assert list(duration.data_points[0].explicit_bounds) == [float(b) for b in sc.DURATION_BUCKETS]
    point_attrs = [_attrs(p.attributes) for p in duration.data_points]
    assert any(a.get(sc.ERROR_TYPE) == "RateLimitError" for a in point_attrs)
    assert all(a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini" for a in point_attrs)


def test_every_dashboard_query_returns_data_from_prometheus(
    prometheus: str, workload: tuple[int, subprocess.Popen[Any], Path]
) -> None:
    # What Prometheus scrapes has exactly the names the translation predicts.
    exposition = _prom_get(f"http://127.0.0.1:{workload[0]}", "/metrics")
    exposed = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines()
               if line and not line.startswith("#")}
    expected = set(promnames.emitted_series())
    assert expected <= exposed, sorted(expected - exposed)

    # Enough scrapes for rate()/increase() over [1m] to have two samples and a change.
    def scraped() -> bool:
        result = _prom_get(prometheus, "/api/v1/query",
                           query=f'count_over_time(tripwire_retries_total{{job="{SERVICE}"}}[1m])')
        values = [float(r["value"][1]) for r in result["data"]["result"]]
        return bool(values) and min(values) >= 3

    _wait(scraped, 30, "three scrapes of the workload", log=workload[2])

    failures = []
    checked = 0
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        queries = promnames.prometheus_queries(dashboard)
        for var, selector, label in promnames.variable_selectors(dashboard):
            queries.append((f"variable {var}", f"count by ({label}) ({selector})"))
        for title, expr in queries:
            promql = promnames.expand_variables(expr)
            result = _prom_get(prometheus, "/api/v1/query", query=promql)
            checked += 1
            series = result["data"]["result"]
            values = [s["value"][1] for s in series]
            if result["status"] != "success" or not any(v not in ("NaN", "+Inf", "-Inf") for v in values):
                failures.append(f"{path.name} / {title}: {promql}\n  -> {result}")
    assert checked >= 15
    assert not failures, "\n".join(failures)

    # the service variable's values are the service name (job label)
    result = _prom_get(prometheus, "/api/v1/query",
                       query="count by (job) (gen_ai_client_operation_duration_seconds_count)")
    assert {s["metric"]["job"] for s in result["data"]["result"]} == {SERVICE}

    # tool-call errors carry their kind (unknown_tool from the workload, loop from the enricher)
    kind = promnames.label_name(getattr(sc, "TRIPWIRE_TOOL_CALL_ERROR_KIND", None)
                                or "tripwire.tool_call.error.kind")
    result = _prom_get(prometheus, "/api/v1/query",
                       query=f"count by ({kind}) (tripwire_tool_call_errors_total)")
    kinds = {s["metric"].get(kind) for s in result["data"]["result"]}
    assert sc.TOOL_ERROR_UNKNOWN_TOOL in kinds, kinds
    # loops (recorded on execute_tool spans) carry the model that asked for the tool, so the
    # dashboard's model and provider filters keep them
    result = _prom_get(prometheus, "/api/v1/query", query=(
        f'count by (gen_ai_provider_name, gen_ai_request_model) (tripwire_tool_call_errors_total'
        f'{{{kind}="{sc.TOOL_ERROR_LOOP}"}})'))
    labelled = {(s["metric"].get("gen_ai_provider_name"), s["metric"].get("gen_ai_request_model"))
                for s in result["data"]["result"]}
    assert labelled == {(sc.PROVIDER_OPENAI, "gpt-4o-mini")}, labelled


DEMO = ROOT / "examples" / "support_assistant.py"


def test_real_demo_with_enrichment_through_rotel(
    otlp_receiver: tuple[str, Received], rotel: tuple[str, str], tmp_path: Path
) -> None:
    """The shipped demo (real openai SDK against the fake server, EnrichingSpanProcessor)
    exports OTLP/HTTP to rotel; its enriched spans and metrics arrive intact, and every
    metric it emits has the unit (hence the Prometheus name) the dashboards query."""
    assert DEMO.exists(), "examples/support_assistant.py is part of the project"
    pytest.importorskip("openai", reason="the openai SDK is not installed")
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": rotel[1]}
    env.pop("OPENAI_API_KEY", None)  # offline: the demo's scripted fake server
    done = subprocess.run([sys.executable, str(DEMO)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    received = otlp_receiver[1]

    def arrived() -> bool:
        names = {s[1].name for s in received.spans()}
        roots = [s for s in received.spans() if s[1].name == "support request"]
        return len(roots) >= 3 and {sc.METRIC_COST, sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION} \
            <= set(received.metrics()) and any(n.startswith("chat ") for n in names)

    _wait(arrived, 20, "the demo's traces and metrics through rotel")
    spans = received.spans()
    assert {r[sc.SERVICE_NAME] for r, _, _ in spans} == {"support-assistant"}
    chats = [a for _, s, a in spans if s.name.startswith("chat ")]
    assert len(chats) >= 4
    for attrs in chats:
        assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_CHAT
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == sc.PROVIDER_OPENAI
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
        assert attrs[sc.TRIPWIRE_COST_USD] > 0  # enrichment survived export and the collector
        assert attrs[sc.TRIPWIRE_COST_SOURCE]
    assert any(a.get(sc.TRIPWIRE_REFUSAL) is True for a in chats)
    assert any(a.get(sc.TRIPWIRE_RETRY_COUNT, 0) >= 1 for a in chats)
    assert any(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in a or a.get(sc.GEN_AI_REQUEST_STREAM)
               for a in chats)
    roots = [a for _, s, a in spans if s.name == "support request"]
    assert all(a[sc.TRIPWIRE_TRACE_LLM_CALLS] >= 1 for a in roots)
    assert sum(a[sc.TRIPWIRE_TRACE_COST_USD] for a in roots) > 0

    metrics = received.metrics()
    emitted = promnames.emitted_series()
    dashboard_series: set[str] = set()
    for path in DASHBOARDS:
        for _, expr in promnames.prometheus_queries(json.loads(path.read_text())):
            dashboard_series |= promnames.metric_names(expr)
    for name, metric in metrics.items():
        if name not in sc.EMITTED_METRICS:
            continue
        kind, unit = promnames.INSTRUMENTS[name]
        assert metric.unit == unit, (name, metric.unit, unit)
        series = promnames.prometheus_series(name, metric.unit, kind)
        assert series <= set(emitted)
        assert series & dashboard_series, f"{name} is on no dashboard"
    assert {sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, sc.METRIC_REFUSALS} <= set(metrics)
