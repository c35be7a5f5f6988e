"""How the library's OpenTelemetry metrics appear in Prometheus, and PromQL helpers.

One translation, used by ``tests/test_dashboards.py`` (static check of every dashboard query)
and by the e2e test (which checks the same names against a real Prometheus). It follows the
OpenTelemetry "Prometheus and OpenMetrics compatibility" spec as implemented, identically for
our metrics, by the collector-contrib translator (``prometheus`` and ``prometheus_remote_write``
exporters with the default ``translation_strategy: UnderscoreEscapingWithSuffixes``, formerly
``add_metric_suffixes: true``) and by the Python SDK's ``opentelemetry-exporter-prometheus``:

- the name: every run of characters outside ``[a-zA-Z0-9:]`` becomes ``_``
  (``gen_ai.client.token.usage`` -> ``gen_ai_client_token_usage``);
- the unit: ``{annotations}`` are dropped (``{token}`` -> nothing), ``s`` -> ``seconds``,
  ``1`` -> nothing (non-gauges), other units are appended as they are (``USD`` -> ``USD``);
- monotonic counters get ``_total``; histograms are ``_bucket`` / ``_sum`` / ``_count``;
- attribute keys: every character outside ``[a-zA-Z0-9_]`` becomes ``_``
  (``gen_ai.request.model`` -> ``gen_ai_request_model``);
- the resource's ``service.name`` becomes ``job`` (collector exporters); when Prometheus
  scrapes an application directly, ``job`` is the scrape job's name (name it after the service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tripwire import semconv

COUNTER = "counter"
HISTOGRAM = "histogram"

# Instrument kind and unit of every metric in semconv.EMITTED_METRICS. The three gen_ai.*
# histograms are created in tripwire/_core/telemetry.py; the tripwire.* ones by the
# enrichment processors. The tests fail when EMITTED_METRICS and this table disagree, and the
# e2e test checks the units against what the library really exports.
INSTRUMENTS: dict[str, tuple[str, str]] = {
    semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION: (HISTOGRAM, "s"),
    semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE: (HISTOGRAM, "{token}"),
    semconv.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: (HISTOGRAM, "s"),
    semconv.METRIC_COST: (COUNTER, "USD"),
    semconv.METRIC_REFUSALS: (COUNTER, "{refusal}"),
    semconv.METRIC_BUDGET_VIOLATIONS: (COUNTER, "{violation}"),
    semconv.METRIC_TOOL_CALL_ERRORS: (COUNTER, "{error}"),
    semconv.METRIC_MODEL_CHANGES: (COUNTER, "{change}"),
    semconv.METRIC_RETRIEVAL_DOCUMENTS: (HISTOGRAM, "{document}"),
    semconv.METRIC_CONTEXT_WINDOW_UTILIZATION: (HISTOGRAM, "1"),
    semconv.METRIC_RETRIES: (COUNTER, "{retry}"),
    semconv.METRIC_AGENT_RUNS: (COUNTER, "{run}"),
    semconv.METRIC_UNPRICED_CALLS: (COUNTER, "{call}"),
}

_UNIT_MAP = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "1": "", "%": "percent",
}
_PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9:]+", "_", name)


def prometheus_unit(unit: str) -> str:
    unit = re.sub(r"\{.*?\}", "", unit or "")
    if unit in _UNIT_MAP:
        return _UNIT_MAP[unit]
    if "/" in unit:
        top, bottom = unit.split("/", 1)
        top = _UNIT_MAP.get(top, _sanitize(top).strip("_"))
        bottom = _PER_UNIT_MAP.get(bottom, _sanitize(bottom).strip("_"))
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _sanitize(unit).strip("_")


def prometheus_name(otel_name: str, unit: str, kind: str) -> str:
    """The Prometheus metric family name of an OTel instrument (``..._total`` for counters)."""
    name = _sanitize(otel_name)
    suffix = prometheus_unit(unit)
    if suffix and not name.endswith("_" + suffix):
        name += "_" + suffix
    if kind == COUNTER and not name.endswith("_total"):
        name += "_total"
    return name


def prometheus_series(otel_name: str, unit: str, kind: str) -> set[str]:
    """Every series name the instrument shows up as in Prometheus."""
    base = prometheus_name(otel_name, unit, kind)
    if kind == HISTOGRAM:
        return {base + "_bucket", base + "_sum", base + "_count"}
    return {base}


def emitted_series() -> dict[str, str]:
    """Prometheus series name -> OTel metric name, for everything the library emits."""
    out: dict[str, str] = {}
    for metric in semconv.EMITTED_METRICS:
        kind, unit = INSTRUMENTS[metric]
        for series in prometheus_series(metric, unit, kind):
            out[series] = metric
    return out


def label_name(attribute: str) -> str:
    """The Prometheus label an OTel attribute key becomes."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def semconv_attributes() -> set[str]:
    """Every attribute key defined in ``tripwire.semconv``."""
    return {
        value for name, value in vars(semconv).items()
        if name.isupper() and isinstance(value, str)
        and re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", value)
    }


def allowed_labels() -> set[str]:
    """Labels a query may use: those Prometheus adds (job/instance), histogram buckets, and
    the sanitized semconv attributes our metrics carry."""
    return {"job", "instance", "le"} | {label_name(a) for a in semconv_attributes()}


# --- PromQL --------------------------------------------------------------------------------

_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels excluded)."""
    text = _STRING.sub('""', expr)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group(1)
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """Labels a PromQL expression matches on or groups by."""
    text = _STRING.sub('""', expr)
    labels: set[str] = set()
    for _, inner in _GROUPING.findall(text):
        labels.update(x.strip() for x in inner.split(",") if x.strip())
    for inner in re.findall(r"\{([^}]*)\}", text):
        labels.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", inner))
    return labels


def expand_variables(expr: str, values: dict[str, str] | None = None) -> str:
    """Substitute Grafana variables the way a run with every variable on "All" would."""
    values = values or {}
    intervals = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        name = name.split(":")[0]
        if name in intervals:
            return intervals[name]
        return values.get(name, ".*")

    return re.sub(r"\$\{([^}]+)\}|\$(\w+)", sub, expr)


# --- dashboards ----------------------------------------------------------------------------


def iter_panels(dashboard: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def datasource_type(obj: dict[str, Any], dashboard: dict[str, Any]) -> str:
    ds = obj.get("datasource")
    if isinstance(ds, dict):
        if ds.get("type"):
            return str(ds["type"])
        uid = str(ds.get("uid", ""))
    else:
        uid = str(ds or "")
    if "tempo" in uid.lower():
        return "tempo"
    return "prometheus"


def prometheus_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every Prometheus target in the dashboard."""
    out = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            if datasource_type(target, dashboard) == "prometheus" and target.get("expr"):
                out.append((panel.get("title", "?"), target["expr"]))
    return out


def variable_selectors(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, series selector, label) of every ``label_values(selector, label)`` query."""
    out = []
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query or "")
        if match:
            out.append((var["name"], match.group(1), match.group(2)))
    return out
