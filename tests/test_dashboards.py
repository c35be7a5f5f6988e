"""Dashboards and collector configs agree with the names the library emits (no external deps).

A metric renamed in ``tripwire/semconv.py`` breaks this test, not a user's dashboard. The
OTel -> Prometheus name translation lives in ``tests/e2e/promnames.py`` and is shared with the
e2e test, which runs the same queries against a real Prometheus.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tripwire import semconv

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
import promnames

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "collector-config"
DASHBOARDS = sorted((CONFIG / "grafana" / "dashboards").glob("*.json"))

SEMCONV_ATTRIBUTES = promnames.semconv_attributes()
# Labels Prometheus adds itself (job/instance), histogram buckets, and the sanitized semconv
# attributes our metrics carry (tripwire.tool_call.error.kind included).
ALLOWED_LABELS = promnames.allowed_labels()


def load(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def test_translation_covers_every_emitted_metric() -> None:
    assert set(promnames.INSTRUMENTS) == set(semconv.EMITTED_METRICS)


@pytest.mark.parametrize(
    ("otel", "unit", "kind", "expected"),
    [
        ("gen_ai.client.operation.duration", "s", "histogram",
         "gen_ai_client_operation_duration_seconds"),
        ("gen_ai.client.token.usage", "{token}", "histogram", "gen_ai_client_token_usage"),
        ("tripwire.cost", "USD", "counter", "tripwire_cost_USD_total"),
        ("tripwire.refusals", "{refusal}", "counter", "tripwire_refusals_total"),
        ("tripwire.context_window.utilization", "1", "histogram",
         "tripwire_context_window_utilization"),
        ("x.requests", "{request}/s", "counter", "x_requests_per_second_total"),
        ("x.bytes", "By", "counter", "x_bytes_total"),
    ],
)
def test_prometheus_name_translation(otel: str, unit: str, kind: str, expected: str) -> None:
    assert promnames.prometheus_name(otel, unit, kind) == expected


def test_promql_parsing_helpers() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, gen_ai_request_model) '
            '(rate(a_b_bucket{job=~"$service", x="y{z}"}[$__rate_interval]))) / on(job) c_total')
    assert promnames.metric_names(expr) == {"a_b_bucket", "c_total"}
    assert promnames.label_names(expr) == {"le", "gen_ai_request_model", "job", "x"}
    assert promnames.expand_variables(expr).count(".*") == 1
    assert "[1m]" in promnames.expand_variables(expr)


@pytest.fixture(params=DASHBOARDS, ids=lambda p: p.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)  # type: ignore[no-any-return]


def test_there_is_an_overview_dashboard() -> None:
    assert CONFIG / "grafana" / "dashboards" / "llm-overview.json" in DASHBOARDS


def test_every_panel_has_a_query(dashboard: dict[str, Any]) -> None:
    panels = list(promnames.iter_panels(dashboard))
    assert len(panels) >= 10
    for panel in panels:
        targets = panel.get("targets") or []
        assert targets, f"panel {panel.get('title')!r} has no query"
        for target in targets:
            assert target.get("expr") or target.get("query"), panel.get("title")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_metric_in_every_query_is_emitted(dashboard: dict[str, Any]) -> None:
    emitted = promnames.emitted_series()
    used: set[str] = set()
    queries = promnames.prometheus_queries(dashboard) + [
        (f"variable {name}", selector) for name, selector, _ in promnames.variable_selectors(dashboard)
    ]
    assert queries
    for title, expr in queries:
        names = promnames.metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        unknown = names - set(emitted)
        assert not unknown, f"{title}: {sorted(unknown)} is not emitted by the library"
        used |= names
        labels = promnames.label_names(expr)
        assert labels <= ALLOWED_LABELS, f"{title}: unknown labels {sorted(labels - ALLOWED_LABELS)}"
    # the overview dashboard shows every metric the library emits
    if dashboard.get("uid") == "tripwire-llm-overview":
        assert {emitted[name] for name in used} == set(semconv.EMITTED_METRICS)


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"service", "provider", "model"} <= set(variables)
    selectors = {name: (sel, label) for name, sel, label in promnames.variable_selectors(dashboard)}
    assert selectors["service"][1] == "job"
    assert selectors["provider"][1] == promnames.label_name(semconv.GEN_AI_PROVIDER_NAME)
    assert selectors["model"][1] == promnames.label_name(semconv.GEN_AI_REQUEST_MODEL)
    for name in ("service", "provider", "model"):
        assert variables[name].get("includeAll") and variables[name].get("allValue") == ".*"
    # every Prometheus query honours the service filter
    for title, expr in promnames.prometheus_queries(dashboard):
        assert "$service" in expr, f"{title} ignores the service variable"
    # every variable a query uses exists
    for title, expr in promnames.prometheus_queries(dashboard):
        for var in re.findall(r"\$\{?(\w+)", expr):
            assert var.startswith("__") or var in variables, f"{title}: unknown ${var}"


def test_panels_link_to_traces(dashboard: dict[str, Any]) -> None:
    tempo_panels = 0
    for panel in promnames.iter_panels(dashboard):
        if promnames.datasource_type(panel, dashboard) == "tempo":
            tempo_panels += 1
            continue
        links = panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])
        exemplars = any(t.get("exemplar") for t in panel.get("targets", []))
        assert links or exemplars, f"{panel['title']!r} has no link to traces"
        for link in links:
            assert "tempo" in link["url"]
    assert tempo_panels >= 1


def _traceql_attributes(query: str) -> set[str]:
    return set(re.findall(r"\b(?:span|resource)\.([a-z_][a-z0-9_.]*)", query))


def test_traceql_uses_semconv_attribute_names(dashboard: dict[str, Any]) -> None:
    texts = [json.dumps(panel) for panel in promnames.iter_panels(dashboard)]
    texts.append(json.dumps(dashboard.get("links", [])))
    attributes = set().union(*(_traceql_attributes(t) for t in texts))
    assert attributes
    assert attributes <= SEMCONV_ATTRIBUTES, sorted(attributes - SEMCONV_ATTRIBUTES)


# --- YAML configs ----------------------------------------------------------------------


def test_every_yaml_config_parses() -> None:
    files = [*CONFIG.rglob("*.yaml"), *CONFIG.rglob("*.yml")]
    assert len(files) >= 8
    for path in files:
        assert isinstance(load(path), dict), path


def _merge(base: Any, overlay: Any) -> Any:
    """The collector's --config merge: maps merge key by key, lists and scalars replace."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return overlay


# Overlays (merged onto otelcol.yaml); the standalone scale-out configs have their own
# receivers and are checked by tests/test_collector_config.py.
COLLECTOR_VARIANTS = [None, *sorted(p.name for p in (CONFIG / "variants").glob("*.yaml")
                                    if "receivers" not in load(p))]


@pytest.mark.parametrize("variant", COLLECTOR_VARIANTS)
def test_collector_pipelines_reference_defined_components(variant: str | None) -> None:
    config = load(CONFIG / "otelcol.yaml")
    if variant:
        config = _merge(config, load(CONFIG / "variants" / variant))
    pipelines = config["service"]["pipelines"]
    assert {"traces", "metrics"} <= set(pipelines)
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in (config.get(kind) or {}), f"{name}: {kind} {component}"
        processors = pipeline.get("processors", [])
        assert processors[0] == "memory_limiter", name
        assert processors[-1] == "batch", name
    for ext in config["service"].get("extensions", []):
        assert ext in config["extensions"]
    assert "tail_sampling" not in pipelines["metrics"].get("processors", [])


def test_collector_base_config() -> None:
    config = load(CONFIG / "otelcol.yaml")
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert {"otlp_grpc/jaeger", "otlp_grpc/tempo", "prometheus"} <= set(config["exporters"])
    assert config["service"]["pipelines"]["traces"]["processors"] == [
        "memory_limiter", "tail_sampling", "batch"]
    # the names dashboards and alerts query (docs/collector.md)
    assert config["exporters"]["prometheus"]["translation_strategy"] == \
        "UnderscoreEscapingWithSuffixes"
    remote = _merge(config, load(CONFIG / "variants" / "remote-write.yaml"))
    assert remote["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus_remote_write"]
    assert remote["exporters"]["prometheus_remote_write"]["translation_strategy"] == \
        "UnderscoreEscapingWithSuffixes"


def test_tail_sampling_keeps_every_flag_and_errors() -> None:
    policies = load(CONFIG / "otelcol.yaml")["processors"]["tail_sampling"]["policies"]
    keys = set()
    for policy in policies:
        if policy["type"] == "boolean_attribute":
            assert policy["boolean_attribute"]["value"] is True
            keys.add(policy["boolean_attribute"]["key"])
        elif policy["type"] == "ottl_condition":
            for cond in policy["ottl_condition"]["span"]:
                keys.update(re.findall(r'attributes\["([^"]+)"\]', cond))
    assert keys <= SEMCONV_ATTRIBUTES, sorted(keys - SEMCONV_ATTRIBUTES)
    assert keys == {
        semconv.TRIPWIRE_BUDGET_EXCEEDED,
        semconv.TRIPWIRE_REFUSAL,
        semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES,
        semconv.TRIPWIRE_TOOL_LOOP,
        semconv.TRIPWIRE_RETRIEVAL_EMPTY,
        semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING,
    }
    types = [p["type"] for p in policies]
    assert "status_code" in types
    errors = next(p for p in policies if p["type"] == "status_code")
    assert errors["status_code"]["status_codes"] == ["ERROR"]
    share = next(p for p in policies if p["type"] == "probabilistic")
    assert "${env:" in str(share["probabilistic"]["sampling_percentage"])


def test_docker_compose_references_existing_files() -> None:
    compose = load(CONFIG / "docker-compose.yaml")
    assert {"otel-collector", "jaeger", "tempo", "prometheus", "grafana"} <= set(compose["services"])
    named_volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        assert service.get("image"), name
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (CONFIG / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named_volumes, f"{name}: {source}"
        for dep in service.get("depends_on", []):
            assert dep in compose["services"]
    collector = compose["services"]["otel-collector"]
    assert any("otelcol.yaml" in c for c in collector["command"])


def test_services_point_at_each_other() -> None:
    collector = load(CONFIG / "otelcol.yaml")
    compose = load(CONFIG / "docker-compose.yaml")["services"]
    prometheus = load(CONFIG / "prometheus.yml")
    port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    targets = [t for job in prometheus["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]]
    assert f"otel-collector:{port}" in targets
    assert "--web.enable-remote-write-receiver" in compose["prometheus"]["command"]
    datasources = load(CONFIG / "grafana/provisioning/datasources/datasources.yaml")["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert {"prometheus", "tempo"} <= set(by_uid)
    assert by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert by_uid["tempo"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    emitted = promnames.emitted_series()
    for query in by_uid["tempo"]["jsonData"]["tracesToMetrics"]["queries"]:
        assert promnames.metric_names(query["query"].replace("$$", "$")) <= set(emitted)
    provider = load(CONFIG / "grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["grafana"]["volumes"]}
    assert mounted[provider["options"]["path"]] == "./grafana/dashboards"
