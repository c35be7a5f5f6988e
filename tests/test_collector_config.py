"""Structural checks of every collector configuration in ``collector-config/`` (no collector
binary needed): component types are real (contrib v0.159.0) and current (no deprecated
aliases), every referenced component is defined and every defined one used, connectors join
pipelines of the right signals, and the scale-out layout computes spend before sampling.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tripwire import semconv

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
import promnames

CONFIG = Path(__file__).resolve().parents[1] / "collector-config"
VARIANTS = CONFIG / "variants"
CHECKED_VERSION = "v0.159.0"

# Component types, read from the `type:` of each component's metadata.yaml in
# opentelemetry-collector / opentelemetry-collector-contrib v0.159.0, all in the
# otelcol-contrib 0.159.0 distribution manifest (opentelemetry-collector-releases).
# kind -> type -> signals it takes (connectors: (exporter side, receiver side) pairs).
COMPONENTS: dict[str, dict[str, Any]] = {
    "receivers": {"otlp": {"traces", "metrics", "logs"}},
    "processors": {
        "memory_limiter": {"traces", "metrics", "logs"},
        "batch": {"traces", "metrics", "logs"},
        "tail_sampling": {"traces"},
    },
    "exporters": {
        "otlp_grpc": {"traces", "metrics", "logs"},   # core exporter/otlpexporter
        "otlp_http": {"traces", "metrics", "logs"},   # core exporter/otlphttpexporter
        "debug": {"traces", "metrics", "logs"},
        "prometheus": {"metrics"},
        "prometheus_remote_write": {"metrics"},
        "load_balancing": {"traces", "logs", "metrics"},
    },
    "connectors": {
        "sum": {("traces", "metrics"), ("metrics", "metrics"), ("logs", "metrics")},
        "span_metrics": {("traces", "metrics")},
    },
    "extensions": {"health_check": set()},
}
# Old names still accepted by v0.159 with a deprecation warning: not in our files.
DEPRECATED = {
    "otlp": "otlp_grpc",        # exporter only (the otlp receiver keeps its name), v0.144
    "otlphttp": "otlp_http",    # v0.144
    "prometheusremotewrite": "prometheus_remote_write",
    "loadbalancing": "load_balancing",
    "spanmetrics": "span_metrics",
}

SCALE_OUT_AGENT = VARIANTS / "scale-out-agent.yaml"
SCALE_OUT_SAMPLER = VARIANTS / "scale-out-sampler.yaml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def merge(base: Any, overlay: Any) -> Any:
    """The collector's --config merge: maps merge key by key, lists and scalars replace."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return overlay


def _overlays() -> list[Path]:
    return sorted(p for p in VARIANTS.glob("*.yaml") if "receivers" not in load(p))


def _standalone() -> list[Path]:
    return [CONFIG / "otelcol.yaml",
            *sorted(p for p in VARIANTS.glob("*.yaml") if "receivers" in load(p))]


def _configs() -> list[tuple[str, dict[str, Any], bool]]:
    """(name, effective config, whether every defined component must be used)."""
    base = load(CONFIG / "otelcol.yaml")
    out = [(p.name, load(p), True) for p in _standalone()]
    out += [(f"otelcol.yaml + {p.name}", merge(base, load(p)), False) for p in _overlays()]
    return out


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


@pytest.mark.parametrize(("name", "config", "all_used"), _configs(), ids=lambda x: x
                         if isinstance(x, str) else "")
def test_components_are_real_current_and_wired(name: str, config: dict[str, Any],
                                               all_used: bool) -> None:
    service = config["service"]
    pipelines = service["pipelines"]
    used: dict[str, set[str]] = {kind: set() for kind in COMPONENTS}
    # connector id -> signals it is an exporter of / a receiver of
    connector_in: dict[str, set[str]] = {}
    connector_out: dict[str, set[str]] = {}
    connectors = config.get("connectors") or {}
    for pipeline_id, pipeline in pipelines.items():
        signal = _type(pipeline_id)
        assert signal in {"traces", "metrics", "logs"}, f"{name}: pipeline {pipeline_id}"
        assert pipeline.get("receivers") and pipeline.get("exporters"), pipeline_id
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind) or []:
                if kind != "processors" and component in connectors:
                    side = connector_in if kind == "exporters" else connector_out
                    side.setdefault(component, set()).add(signal)
                    used["connectors"].add(component)
                    continue
                assert component in (config.get(kind) or {}), \
                    f"{name}: {pipeline_id} uses {kind[:-1]} {component}, not defined"
                ctype = _type(component)
                assert ctype in COMPONENTS[kind], \
                    f"{name}: {kind[:-1]} type {ctype!r} is not in otelcol-contrib {CHECKED_VERSION}"
                assert signal in COMPONENTS[kind][ctype], f"{name}: {ctype} takes no {signal}"
                used[kind].add(component)
        processors = pipeline.get("processors") or []
        assert processors[:1] == ["memory_limiter"], f"{name}: {pipeline_id}"
        assert processors[-1:] == ["batch"], f"{name}: {pipeline_id}"
    for ext in service.get("extensions") or []:
        assert ext in (config.get("extensions") or {}), f"{name}: extension {ext}"
        assert _type(ext) in COMPONENTS["extensions"], ext
        used["extensions"].add(ext)
    for connector, in_signals in connector_in.items():
        ctype = _type(connector)
        assert ctype in COMPONENTS["connectors"], f"{name}: connector type {ctype!r}"
        out_signals = connector_out.get(connector)
        assert out_signals, f"{name}: connector {connector} feeds no pipeline"
        for pair in {(i, o) for i in in_signals for o in out_signals}:
            assert pair in COMPONENTS["connectors"][ctype], f"{name}: {connector} {pair}"
    for connector in connectors:
        assert connector in connector_in, f"{name}: connector {connector} receives nothing"
    # current names only (the deprecated aliases log a warning on every start)
    for kind in ("exporters", "connectors"):
        for component in config.get(kind) or {}:
            assert _type(component) not in DEPRECATED, \
                f"{name}: {component} -> {DEPRECATED[_type(component)]}"
    if all_used:
        for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
            unused = set(config.get(kind) or {}) - used[kind]
            assert not unused, f"{name}: {kind} defined but unused: {sorted(unused)}"
    # metrics are never sampled
    for pipeline_id, pipeline in pipelines.items():
        if _type(pipeline_id) == "metrics":
            assert "tail_sampling" not in (pipeline.get("processors") or [])


def test_deprecated_prometheus_keys_are_gone() -> None:
    for name, config, _ in _configs():
        for component, settings in (config.get("exporters") or {}).items():
            if _type(component) in {"prometheus", "prometheus_remote_write"}:
                assert "add_metric_suffixes" not in settings, name
                assert "resource_to_telemetry_conversion" not in settings, name
                # the translation dashboards, alerts and tests/e2e/promnames.py assume
                assert settings["translation_strategy"] == "UnderscoreEscapingWithSuffixes"


def test_every_collector_file_says_what_it_was_checked_against() -> None:
    for path in [*_standalone(), *_overlays()]:
        assert CHECKED_VERSION in path.read_text(), path.name
    assert "v2.20.0" in (CONFIG / "jaeger.yaml").read_text()


# --- the scale-out layout ------------------------------------------------------------------


def test_agent_routes_by_trace_id_and_sums_cost_before_sampling() -> None:
    agent = load(SCALE_OUT_AGENT)
    pipelines = agent["service"]["pipelines"]
    traces = pipelines["traces"]
    # no sampling in the agent: the sum sees every span
    assert not any(_type(p) == "tail_sampling" for p in traces["processors"])
    assert set(traces["exporters"]) == {"load_balancing", "sum"}
    lb = agent["exporters"]["load_balancing"]
    assert lb["routing_key"] == "traceID"
    assert "endpoint" not in lb["protocol"]["otlp"]  # set per backend by the exporter
    assert lb["resolver"]["dns"]["hostname"]
    # the sum: tripwire.cost.usd of priced spans, by provider and model (service = resource)
    ((metric, spec),) = agent["connectors"]["sum"]["spans"].items()
    assert metric.startswith("tripwire.") and metric != semconv.METRIC_COST
    assert spec["source_attribute"] == semconv.TRIPWIRE_COST_USD
    assert spec["conditions"] == [f'attributes["{semconv.TRIPWIRE_COST_USD}"] != nil']
    keys = [a["key"] for a in spec["attributes"]]
    assert keys == [semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL]
    # without a default a span lacking the key would not be counted at all
    assert all(a.get("default_value") for a in spec["attributes"])
    # its series (a delta sum without unit -> "_total") reaches Prometheus next to ours,
    # under a name that never adds to tripwire_cost_USD_total
    feeds = [p for pid, p in pipelines.items() if "sum" in (p.get("receivers") or [])]
    assert feeds and all(p["exporters"] == ["prometheus"] for p in feeds)
    prom_name = promnames.prometheus_name(metric, "", promnames.COUNTER)
    assert prom_name == "tripwire_spans_cost_usd_total"
    assert prom_name not in promnames.emitted_series()
    # the applications' own metrics are served here, unsampled
    assert pipelines["metrics"]["exporters"] == ["prometheus"]


def test_sampler_receives_what_the_agent_sends_and_samples_like_the_base() -> None:
    agent, sampler = load(SCALE_OUT_AGENT), load(SCALE_OUT_SAMPLER)
    base = load(CONFIG / "otelcol.yaml")
    port = agent["exporters"]["load_balancing"]["resolver"]["dns"]["port"]
    grpc = sampler["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc.rsplit(":", 1)[1] == str(port)
    pipelines = sampler["service"]["pipelines"]
    assert set(pipelines) == {"traces"}  # metrics stay in the agents
    assert pipelines["traces"]["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    ours = sampler["processors"]["tail_sampling"]
    theirs = base["processors"]["tail_sampling"]
    assert ours["policies"] == theirs["policies"]
    assert ours["decision_wait"] == theirs["decision_wait"]
    assert set(pipelines["traces"]["exporters"]) == {"otlp_grpc/jaeger", "otlp_grpc/tempo"}


def test_jaeger_v2_config_is_consistent() -> None:
    jaeger = load(CONFIG / "jaeger.yaml")
    backends = set(jaeger["extensions"]["jaeger_storage"]["backends"])
    assert jaeger["extensions"]["jaeger_query"]["storage"]["traces"] in backends
    assert jaeger["exporters"]["jaeger_storage_exporter"]["trace_storage"] in backends
    assert jaeger["extensions"]["jaeger_query"]["http"]["endpoint"].endswith(":16686")
    for ext in jaeger["service"]["extensions"]:
        assert ext in jaeger["extensions"]
    traces = jaeger["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in traces[kind]:
            assert component in jaeger[kind]
    # the collector's otlp_grpc/jaeger exporter points at this receiver
    endpoint = load(CONFIG / "otelcol.yaml")["exporters"]["otlp_grpc/jaeger"]["endpoint"]
    port = endpoint.rsplit(":", 1)[1].strip("}")
    assert jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{port}")
    compose = load(CONFIG / "docker-compose.yaml")["services"]["jaeger"]
    assert compose["image"].startswith("jaegertracing/jaeger:2.")
    assert any("jaeger.yaml" in v for v in compose["volumes"])


def test_prometheus_loads_the_alert_rules() -> None:
    prometheus = load(CONFIG / "prometheus.yml")
    assert prometheus["rule_files"] == ["alerts.yaml"]
    compose = load(CONFIG / "docker-compose.yaml")["services"]["prometheus"]
    assert "./alerts.yaml:/etc/prometheus/alerts.yaml:ro" in compose["volumes"]
    assert compose["image"].startswith("prom/prometheus:v3.")
