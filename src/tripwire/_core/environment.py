"""What ``tripwire check`` finds in the environment: the set-up mistakes that make an
application export nothing, or less than its owner thinks, without an error anyone sees.

Each check reads the environment (and the installed entry points) the way the code that will
act on it does: exporter and sampler names through the OpenTelemetry SDK's own resolution and
entry-point groups, ``TRIPWIRE_*`` settings and their files through :func:`load_settings` and
:func:`file_errors` (as ``configure()``), distros, configurators and instrumentors as
``opentelemetry-instrument`` picks them. Nothing here touches the network or starts the SDK.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import Any
from urllib.parse import urlsplit

from tripwire.coexistence import (
    DISABLED_VARIABLE as DISABLED,
)
from tripwire.coexistence import (
    DISTRIBUTION,
    DISTRO_DEFAULTS,
    disabled,
    distribution_name,
    dropped_and_kept,
    foreign_instrumentors,
    prefers_ours,
)
from tripwire.errors import ConfigError
from tripwire.settings import _SPECS, load_settings

OURS = "tripwire"  # our distro and configurator entry-point name


class Severity(str, Enum):
    ERROR = "error"  # the set-up is broken: exit non-zero
    WARNING = "warning"  # works, but probably not as meant
    INFO = "info"  # what was found, for the record


@dataclass(frozen=True)
class Finding:
    severity: Severity
    subject: str  # the variable (with its value) or the component concerned
    message: str
    fix: str = ""


# --- environment variable names ---------------------------------------------------------------

SIGNALS = ("traces", "metrics", "logs")
EXPORTER_VAR = {s: f"OTEL_{s.upper()}_EXPORTER" for s in SIGNALS}
PROTOCOL_VAR = {s: f"OTEL_EXPORTER_OTLP_{s.upper()}_PROTOCOL" for s in SIGNALS}
ENDPOINT_VAR = {s: f"OTEL_EXPORTER_OTLP_{s.upper()}_ENDPOINT" for s in SIGNALS}
PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
INSECURE = "OTEL_EXPORTER_OTLP_INSECURE"
SAMPLER = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
DISTRO = "OTEL_PYTHON_DISTRO"
CONFIGURATOR = "OTEL_PYTHON_CONFIGURATOR"
SDK_DISABLED = "OTEL_SDK_DISABLED"

# ``TRIPWIRE_*`` names read by something other than the library (the collector configuration).
_OTHER_TRIPWIRE_NAMES = frozenset({"TRIPWIRE_SAMPLING_PERCENT"})
# ``OTEL_*`` names whose typo silently changes what is exported: an unknown name close to one
# of these gets a did-you-mean (other unknown OTEL_* names may be any instrumentation's own).
_OTEL_NAMES_THAT_DECIDE_EXPORT = frozenset({
    *EXPORTER_VAR.values(), *PROTOCOL_VAR.values(), *ENDPOINT_VAR.values(), PROTOCOL, ENDPOINT,
    INSECURE, SAMPLER, SAMPLER_ARG, DISTRO, CONFIGURATOR, DISABLED, SDK_DISABLED,
    "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
})

# What the OpenTelemetry SDK's configuration does with these names (opentelemetry-sdk
# ``_configuration``: ``_EXPORTER_BY_OTLP_PROTOCOL``, the ratio samplers in ``_import_sampler``,
# the default sampler of ``TracerProvider``). Checked: opentelemetry-sdk 1.45.2.
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
_ARGLESS_SAMPLERS = ("always_on", "always_off", "parentbased_always_on", "parentbased_always_off")
_SAMPLERS_KEEPING_EVERYTHING = ("always_on", "parentbased_always_on")
_DEFAULT_SAMPLER = "parentbased_always_on"
# Where an exporter name's entry point usually comes from: (distribution, how to install it).
_EXPORTER_PACKAGES = {
    "otlp_proto_grpc": ("opentelemetry-exporter-otlp-proto-grpc",
                        "pip install 'tripwire-otel[otlp-grpc]'"),
    "otlp_proto_http": ("opentelemetry-exporter-otlp-proto-http",
                        "pip install opentelemetry-exporter-otlp-proto-http"),
    "prometheus": ("opentelemetry-exporter-prometheus",
                   "pip install opentelemetry-exporter-prometheus"),
    "tripwire_console": (DISTRIBUTION, "pip install tripwire-otel"),
}
_OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
_LABEL = {"grpc": "OTLP/gRPC", "http/protobuf": "OTLP/HTTP"}


# --- entry points: the one seam to the installed distributions ---------------------------------

def installed_entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in the order ``opentelemetry-instrument`` and the SDK see
    them (both iterate ``importlib.metadata.entry_points(group=...)``)."""
    return list(entry_points(group=group))


def _named(group: str, name: str) -> EntryPoint | None:
    # As the SDK's ``_import_config_components``: the first entry point of that name.
    return next((ep for ep in installed_entry_points(group) if ep.name == name), None)


def _is_ours(ep: EntryPoint) -> bool:
    return ep.value.startswith("tripwire.") or distribution_name(ep) == DISTRIBUTION


def _did_you_mean(name: str, candidates: Any, cutoff: float = 0.8) -> str | None:
    found = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None


def _quote(name: str, value: str) -> str:
    return f"{name}={value}"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:160]}"


# --- TRIPWIRE_* settings and names ------------------------------------------------------------

def check_settings(env: Mapping[str, str]) -> list[Finding]:
    """Every ``TRIPWIRE_*`` value parsed, and the prices and budgets files loaded, exactly as
    ``configure()`` does (the same functions)."""
    from tripwire.pipeline import file_errors  # the processors' price tables: only when checking

    errors: list[ConfigError] = []
    settings = load_settings(env, strict=False, errors=errors)
    errors += file_errors(settings).values()
    findings = [Finding(Severity.ERROR, exc.setting,
                        str(exc).replace(f" for {exc.setting}", "", 1),
                        "fix it; until then this setting stays at its default (off)")
                for exc in errors]
    if not errors:
        parts = [f"content capture {settings.capture_content.value}",
                 f"budget mode {settings.budget_mode.value}"]
        if settings.budget_trace_usd is not None:
            parts.append(f"budget per trace ${settings.budget_trace_usd:g}")
        for label, path in (("prices file", settings.prices_file),
                            ("budgets file", settings.budgets_file)):
            if path:
                parts.append(f"{label} {path} loaded")
        findings.append(Finding(Severity.INFO, "settings", ", ".join(parts)))
    return findings


def check_names(env: Mapping[str, str]) -> list[Finding]:
    """Unknown ``TRIPWIRE_*`` names (a typo leaves a budget unset, silently), and ``OTEL_*``
    names one typo away from a variable that decides what is exported."""
    known = {spec.env for spec in _SPECS if spec.env and spec.env.startswith("TRIPWIRE_")}
    accepted = known | _OTHER_TRIPWIRE_NAMES
    otel_known: frozenset[str] | None = None  # read from the SDK's modules once, if needed
    findings: list[Finding] = []
    for name in sorted(env):
        if name.startswith("TRIPWIRE_") and name not in accepted:
            guess = _did_you_mean(name, known)
            if guess:  # almost certainly a typo: the setting the user meant is not in force
                findings.append(Finding(Severity.ERROR, name, "unknown setting, ignored",
                                        f"did you mean {guess}?"))
            else:
                findings.append(Finding(Severity.WARNING, name, "unknown setting, ignored",
                                        "see `tripwire settings` for the known names"))
        elif name.startswith("OTEL_") and name not in (
                otel_known := otel_known or _known_otel_names()):
            guess = _did_you_mean(name, _OTEL_NAMES_THAT_DECIDE_EXPORT, cutoff=0.9)
            if guess:
                findings.append(Finding(Severity.WARNING, name,
                                        "not an OpenTelemetry variable, ignored",
                                        f"did you mean {guess}?"))
    return findings


def _known_otel_names() -> frozenset[str]:
    names: set[str] = set(_OTEL_NAMES_THAT_DECIDE_EXPORT)
    for module in ("opentelemetry.environment_variables", "opentelemetry.sdk.environment_variables",
                   "opentelemetry.instrumentation.environment_variables"):
        try:
            values = vars(importlib.import_module(module)).values()
        except ImportError:
            continue
        names.update(v for v in values if isinstance(v, str) and v.startswith("OTEL_"))
    return frozenset(names)


# --- distro and configurator --------------------------------------------------------------------

def chosen(group: str, variable: str, env: Mapping[str, str]) -> EntryPoint | None:
    """The entry point ``opentelemetry-instrument`` loads from ``group``: the one named by
    ``variable``, else the first found (``_load_distro`` / ``_load_configurators``)."""
    wanted = env.get(variable)
    return next((ep for ep in installed_entry_points(group)
                 if wanted is None or ep.name == wanted), None)


def check_distro_and_configurator(env: Mapping[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    for group, variable, kind, consequence in (
        ("opentelemetry_distro", DISTRO, "distro",
         "its defaults (exporters, protocol) apply instead of tripwire's"),
        ("opentelemetry_configurator", CONFIGURATOR, "configurator",
         "spans are exported without tripwire's enrichment, unless the application calls "
         "tripwire.configure(span_processors=[...])"),
    ):
        installed = installed_entry_points(group)
        names = [ep.name for ep in installed]
        wanted = env.get(variable)
        picked = chosen(group, variable, env)
        others = [f"{ep.name} ({distribution_name(ep)})" for ep in installed if not _is_ours(ep)]
        if wanted is not None and picked is None:
            result = ("opentelemetry-instrument falls back to the SDK's bare default distro "
                      "(no exporter defaults)" if kind == "distro" else
                      "opentelemetry-instrument loads no configurator: the SDK is not set up "
                      "and nothing is exported")
            findings.append(Finding(
                Severity.ERROR, _quote(variable, wanted),
                f"no {kind} of that name is installed (installed: {', '.join(names) or 'none'}); "
                + result, f"set {variable}={OURS}" if OURS in names else f"unset {variable}"))
        elif picked is not None and not _is_ours(picked):
            findings.append(Finding(
                Severity.WARNING, f"{kind} {picked.name}",
                f"opentelemetry-instrument uses {picked.name} ({distribution_name(picked)}): "
                + consequence,
                f"set {variable}={OURS} to use tripwire's" if OURS in names else ""))
        elif picked is not None and others and wanted is None:
            findings.append(Finding(
                Severity.WARNING, f"{kind} {picked.name}",
                f"other {kind}s are installed ({', '.join(others)}); opentelemetry-instrument "
                f"takes the first one found, and that order is not guaranteed",
                f"set {variable}={OURS}"))
        elif picked is not None:
            findings.append(Finding(Severity.INFO, kind,
                                    f"{picked.name} ({distribution_name(picked)}), the one "
                                    "opentelemetry-instrument loads"))
    return findings


def tripwire_sets_up(env: Mapping[str, str]) -> bool:
    """Whether ``opentelemetry-instrument`` would set the SDK up with tripwire's configurator
    (the pipeline: enrichment, the wrapped sampler); else another party's applies."""
    configurator = chosen("opentelemetry_configurator", CONFIGURATOR, env)
    return configurator is not None and _is_ours(configurator)


# --- exporters, protocols, endpoints ----------------------------------------------------------

@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` replaced by ``env`` for the duration: the SDK's resolution reads
    ``os.environ`` and nothing else (the command is single-threaded)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def effective_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with tripwire's distro defaults applied when tripwire's distro is the one
    ``opentelemetry-instrument`` loads (``tripwire.configure()`` defaults alike): OTLP traces
    and metrics over HTTP/protobuf."""
    effective = dict(env)
    distro = chosen("opentelemetry_distro", DISTRO, env)
    if (distro is None and DISTRO not in env) or (distro is not None and _is_ours(distro)):
        for name, value in DISTRO_DEFAULTS.items():
            effective.setdefault(name, value)
    return effective


def _resolved_exporter_names(signal: str, env: Mapping[str, str]) -> list[str]:
    from tripwire._compat import exporter_names

    with _environ(env):
        return exporter_names(signal)


def _protocol_of(signal: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(variable, value) of the OTLP protocol in force for ``signal``, as the SDK reads it."""
    for variable in (PROTOCOL_VAR[signal], PROTOCOL):
        if env.get(variable):
            return variable, env[variable].strip()
    return None, None


def _http_endpoint(signal: str, env: Mapping[str, str]) -> str:
    # As opentelemetry-exporter-otlp-proto-http's ``_resolve_endpoint``.
    if env.get(ENDPOINT_VAR[signal]):
        return env[ENDPOINT_VAR[signal]]
    base = env.get(ENDPOINT) or "http://localhost:4318/"
    return f"{base.removesuffix('/')}/v1/{signal}"


def _grpc_endpoint(signal: str, env: Mapping[str, str]) -> str:
    return env.get(ENDPOINT_VAR[signal]) or env.get(ENDPOINT) or "http://localhost:4317"


def check_protocols(env: Mapping[str, str]) -> list[Finding]:
    findings = []
    for variable in (PROTOCOL, *PROTOCOL_VAR.values()):
        value = env.get(variable)
        if value and value.strip() not in _OTLP_BY_PROTOCOL:
            findings.append(Finding(
                Severity.ERROR, _quote(variable, value),
                "not an OTLP protocol the Python exporters support; opentelemetry-instrument "
                "fails to set up the SDK and nothing is exported",
                "use grpc or http/protobuf (http/json is not implemented in Python)"))
    return findings


def check_exporters(env: Mapping[str, str]) -> list[Finding]:
    """Each exporter name of ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER`` resolved as the SDK
    resolves it (``otlp`` by protocol) and loaded from its entry point, as the SDK loads it.
    One that fails makes the SDK's set-up fail as a whole: nothing at all is exported."""
    effective = effective_environment(env)
    found: list[tuple[str, Finding]] = []
    for signal in SIGNALS:
        variable = EXPORTER_VAR[signal]
        raw = env.get(variable)
        try:
            names = _resolved_exporter_names(signal, effective)
        except RuntimeError:
            continue  # an unsupported protocol: reported by check_protocols
        if not names:
            if signal != "logs":
                what = "spans (and so tripwire's enrichment)" if signal == "traces" else \
                    "metrics (tripwire.cost, gen_ai.client.*)"
                found.append((signal, Finding(Severity.WARNING, _quote(variable, raw or "none"),
                                              f"{what} are not exported",
                                              f"set {variable}=otlp to export them")))
            continue
        raw_names = [n.strip() for n in (effective.get(variable) or "").split(",")]
        for name, raw_name in zip(names, raw_names):
            found.append((signal, _check_exporter(signal, name, raw_name, effective)))
    # One line for one cause: "grpc" failing for traces and metrics alike is one finding.
    merged: dict[tuple[Severity, str, str, str], list[str]] = {}
    for signal, finding in found:
        merged.setdefault((finding.severity, finding.subject, finding.message, finding.fix),
                          []).append(signal)
    return [Finding(severity, subject, message.replace("{signals}", " and ".join(signals)), fix)
            for (severity, subject, message, fix), signals in merged.items()]


def _deciding_variable(signal: str, raw_name: str, env: Mapping[str, str]) -> str:
    """The variable (with its value) that made the SDK pick exporter ``name``."""
    if raw_name == "otlp":
        protocol_var, protocol = _protocol_of(signal, env)
        if protocol_var:
            return _quote(protocol_var, protocol or "")
        return f"{EXPORTER_VAR[signal]}=otlp (no {PROTOCOL}: the SDK's default is grpc)"
    return _quote(EXPORTER_VAR[signal], env.get(EXPORTER_VAR[signal], raw_name))


def _check_exporter(signal: str, name: str, raw_name: str, env: Mapping[str, str]) -> Finding:
    group = f"opentelemetry_{signal}_exporter"
    subject = _deciding_variable(signal, raw_name, env)
    package, install = _EXPORTER_PACKAGES.get(name, (None, None))
    broken = ("opentelemetry-instrument fails to set up the SDK: nothing is exported "
              "(traces, metrics and logs)")
    ep = _named(group, name)
    if ep is None:
        installed = sorted({e.name for e in installed_entry_points(group)})
        needs = f" (from {package})" if package else ""
        guess = None if package else _did_you_mean(name, installed, cutoff=0.6)
        fix = install or (f"did you mean {guess}?" if guess else
                          f"one of: {', '.join(installed)}, or install the exporter's package")
        return Finding(Severity.ERROR, subject,
                       f"no {{signals}} exporter '{name}'{needs} is installed; {broken}", fix)
    try:
        exporter = ep.load()
    except Exception as exc:
        return Finding(Severity.ERROR, subject,
                       f"{{signals}} exporter '{name}' ({distribution_name(ep)}) cannot be imported "
                       f"({_error_text(exc)}); {broken}",
                       f"reinstall {package or distribution_name(ep)}" + (f": {install}" if install
                                                                   else ""))
    base = _exporter_base(signal)
    if base is not None and not (isinstance(exporter, type) and issubclass(exporter, base)):
        return Finding(Severity.ERROR, subject,
                       f"'{name}' ({ep.value}) is not a {{signals}} exporter; {broken}",
                       f"remove '{name}' from {EXPORTER_VAR[signal]}")
    if name == "otlp_proto_grpc":
        where = f" to {_grpc_endpoint(signal, env)} (gRPC)"
    elif name == "otlp_proto_http":
        where = f" to {_http_endpoint(signal, env)} (HTTP/protobuf)"
    else:
        where = ""
    return Finding(Severity.INFO, signal, f"exported by {name} ({distribution_name(ep)}){where}")


def _exporter_base(signal: str) -> Any:
    # The classes the SDK's ``_import_exporters`` requires of each signal's exporters.
    if signal == "traces":
        from opentelemetry.sdk.trace.export import SpanExporter

        return SpanExporter
    if signal == "metrics":
        from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader

        return (MetricExporter, MetricReader)
    try:
        from opentelemetry.sdk._logs.export import LogRecordExporter
    except ImportError:  # renamed across SDK releases: do not guess
        return None
    return LogRecordExporter


def check_endpoints(env: Mapping[str, str]) -> list[Finding]:
    """The OTLP endpoint each exporting signal will use, checked for the protocol it is sent
    with: scheme, host, port (and the path the HTTP exporter does or does not add)."""
    effective = effective_environment(env)
    findings: dict[tuple[str, str], Finding] = {}
    for signal in SIGNALS:
        try:
            names = _resolved_exporter_names(signal, effective)
        except RuntimeError:
            continue
        for name in names:
            protocol = {"otlp_proto_grpc": "grpc", "otlp_proto_http": "http/protobuf"}.get(name)
            if protocol is None:
                continue
            for variable in (ENDPOINT_VAR[signal], ENDPOINT):
                if effective.get(variable):
                    for finding in _check_endpoint(variable, effective[variable], protocol,
                                                   signal, effective):
                        findings.setdefault((finding.subject, finding.message), finding)
                    break
    return list(findings.values())


def _check_endpoint(variable: str, value: str, protocol: str, signal: str,
                    env: Mapping[str, str]) -> list[Finding]:
    subject = _quote(variable, value)
    per_signal = variable != ENDPOINT
    text = value.strip()
    if not text or any(ch.isspace() for ch in text):
        return [Finding(Severity.ERROR, subject, "contains spaces or is blank",
                        "write a URL such as http://collector:4318")]
    schemeless = "://" not in text
    # The gRPC exporter takes a bare host:port as it is.
    parts = urlsplit("//" + text if schemeless and protocol == "grpc" else text)
    port_hint = f"http://collector:{_OTLP_PORTS[protocol]}"
    if not schemeless and parts.scheme not in ("http", "https"):
        return [Finding(Severity.ERROR, subject,
                        f"scheme '{parts.scheme}' is not http or https; the {protocol} exporter "
                        "cannot send to it", f"write it as {port_hint}")]
    if schemeless and protocol != "grpc":
        return [Finding(Severity.ERROR, subject,
                        "no http:// or https:// scheme; the HTTP exporter cannot send to it",
                        f"write it as {port_hint}")]
    if not parts.hostname:
        return [Finding(Severity.ERROR, subject, "no host", f"write it as {port_hint}")]
    try:
        port = parts.port
    except ValueError:
        return [Finding(Severity.ERROR, subject, "the port is not a number in 0-65535",
                        f"write it as {port_hint}")]
    findings = []
    expected = _OTLP_PORTS[protocol]
    other = "grpc" if protocol == "http/protobuf" else "http/protobuf"
    if port is None:
        findings.append(Finding(
            Severity.WARNING, subject,
            f"no port: {parts.scheme or 'https'} means port "
            f"{443 if parts.scheme != 'http' else 80}, while OTLP/{protocol} listens on "
            f"{expected}", f"add the port: {parts.scheme or 'http'}://{parts.hostname}:{expected}"))
    elif port == _OTLP_PORTS[other]:
        findings.append(Finding(
            Severity.WARNING, subject,
            f"port {port} is the {_LABEL[other]} port, but the exporter sends {_LABEL[protocol]} "
            f"({protocol}, port {expected})",
            f"use port {expected}, or set the protocol to {other}"))
    if protocol == "http/protobuf":
        path = parts.path.rstrip("/")
        if per_signal and not path:
            findings.append(Finding(
                Severity.WARNING, subject,
                f"the HTTP exporter posts to this URL as it is, without adding /v1/{signal}",
                f"write {text.rstrip('/')}/v1/{signal}"))
        elif not per_signal and path.endswith(("/v1/traces", "/v1/metrics", "/v1/logs")):
            findings.append(Finding(
                Severity.WARNING, subject,
                "the HTTP exporter appends /v1/traces, /v1/metrics, /v1/logs to this base "
                f"URL (traces go to {_http_endpoint('traces', env)})",
                "drop the /v1/... path, or set the per-signal "
                "OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT to the full URL"))
    elif schemeless and (env.get(ENDPOINT_VAR[signal].replace("ENDPOINT", "INSECURE"))
                         or env.get(INSECURE) or "").strip().lower() != "true":
        findings.append(Finding(
            Severity.WARNING, subject,
            "no scheme: the gRPC exporter connects with TLS, which a plain-text collector "
            "refuses", f"write http://{text} for plain text, or https:// to say TLS"))
    return findings


# --- sampler ------------------------------------------------------------------------------------

def check_sampler(env: Mapping[str, str]) -> list[Finding]:
    """``OTEL_TRACES_SAMPLER`` and its argument, built as the SDK's ``_import_sampler`` builds
    them; and a sampler that keeps spans from the span processor."""
    from opentelemetry.sdk.trace.sampling import Sampler

    name = env.get(SAMPLER)
    arg = env.get(SAMPLER_ARG)
    if not name:
        if arg:
            return [Finding(Severity.WARNING, _quote(SAMPLER_ARG, arg),
                            f"ignored: {SAMPLER} is not set (the default, {_DEFAULT_SAMPLER}, "
                            "takes no argument)",
                            f"set {SAMPLER}=parentbased_traceidratio to sample by ratio")]
        return []
    group = "opentelemetry_traces_sampler"
    subject = _quote(SAMPLER, name)
    fallback = f"the SDK logs a warning and samples with its default, {_DEFAULT_SAMPLER}"
    ep = _named(group, name.strip())
    installed = sorted({e.name for e in installed_entry_points(group)})
    if ep is None:
        guess = _did_you_mean(name.strip(), installed, cutoff=0.6)
        return [Finding(Severity.ERROR, subject, f"no sampler of that name; {fallback}",
                        (f"did you mean {guess}? " if guess else "")
                        + f"one of: {', '.join(installed)}")]
    try:
        factory = ep.load()
    except Exception as exc:
        return [Finding(Severity.ERROR, subject,
                        f"sampler ({distribution_name(ep)}) cannot be imported ({_error_text(exc)}); "
                        + fallback, f"reinstall {distribution_name(ep)}")]
    findings: list[Finding] = []
    ratio: float | None = None
    # The SDK compares the unstripped name here; so does this check.
    if name in _RATIO_SAMPLERS:
        try:
            ratio = float(arg or "")
        except ValueError:
            ratio = 1.0
            if arg is None or not arg.strip():
                findings.append(Finding(Severity.WARNING, subject,
                                        f"{SAMPLER_ARG} is not set: the SDK samples with "
                                        "ratio 1.0 (every trace)",
                                        f"set {SAMPLER_ARG} to a ratio in [0, 1]"))
            else:
                findings.append(Finding(Severity.ERROR, _quote(SAMPLER_ARG, arg),
                                        "not a number: the SDK samples with ratio 1.0 "
                                        "(every trace)", "write a ratio in [0, 1], e.g. 0.1"))
        sampler_arg: Any = ratio
    else:
        sampler_arg = arg
        if arg and name.strip() in _ARGLESS_SAMPLERS:
            findings.append(Finding(Severity.WARNING, _quote(SAMPLER_ARG, arg),
                                    f"ignored: {name.strip()} takes no argument",
                                    f"unset {SAMPLER_ARG}, or use parentbased_traceidratio"))
    try:
        sampler = factory(sampler_arg)
        if not isinstance(sampler, Sampler):
            raise TypeError(f"{ep.value} returned {type(sampler).__name__}, not a Sampler")
    except Exception as exc:
        subject_arg = _quote(SAMPLER_ARG, arg) if arg else subject
        return [*findings, Finding(Severity.ERROR, subject_arg,
                                   f"the sampler cannot be built ({_error_text(exc)}); "
                                   + fallback,
                                   f"write a ratio in [0, 1], e.g. {SAMPLER_ARG}=0.1"
                                   if name in _RATIO_SAMPLERS else "")]
    findings.append(_sampler_hides_spans(name.strip(), ratio, env)
                    or Finding(Severity.INFO, "sampler",
                               f"{name.strip()}: every span reaches the span processor"))
    return findings


def _sampler_hides_spans(name: str, ratio: float | None,
                         env: Mapping[str, str]) -> Finding | None:
    if name in _SAMPLERS_KEEPING_EVERYTHING:
        return None
    if ratio is not None:
        share = f"about {1 - ratio:.0%} of traces are"
    elif name in ("always_off", "parentbased_always_off"):
        share = "all traces started here are"
    else:
        share = "the traces it drops are"
    keep_all = ("to export every LLM call, sample in the collector instead (tail sampling, "
                "collector-config/) with parentbased_always_on here")
    if tripwire_sets_up(env):
        # tripwire.sampling: configure() and the zero-code configurator wrap the sampler.
        return Finding(Severity.WARNING, _quote(SAMPLER, name),
                       f"{share} not sampled (not exported); tripwire's set-up wraps this "
                       "sampler so that GenAI spans are still recorded: cost, budgets and "
                       "metrics count every call",
                       "keep it if that is the point; " + keep_all)
    return Finding(Severity.ERROR, _quote(SAMPLER, name),
                   f"{share} not sampled: their spans never reach a span processor, and the "
                   "configurator in use does not wrap the sampler as tripwire's does, so the "
                   "GenAI spans of other instrumentors are neither enriched nor counted "
                   "(cost, budgets)",
                   f"set {CONFIGURATOR}={OURS}, or build the provider with "
                   "tripwire.sampling.wrap(sampler); or " + keep_all)


# --- GenAI instrumentors for the same libraries -------------------------------------------------

def _installed(library: str) -> bool:
    try:
        distribution(library)
    except PackageNotFoundError:
        return False
    return True


def check_instrumentors(env: Mapping[str, str]) -> list[Finding]:
    """Another GenAI instrumentor for a library tripwire instruments (found by
    :func:`tripwire.coexistence.foreign_instrumentors`, the distro's own detection): with
    tripwire's distro or configurator in use, it keeps one per library by itself."""
    off = set(disabled(env))
    if "*" in off:
        return []
    distro = chosen("opentelemetry_distro", DISTRO, env)
    configurator = chosen("opentelemetry_configurator", CONFIGURATOR, env)
    handled = any(ep is not None and _is_ours(ep) for ep in (distro, configurator))
    prefer_ours = prefers_ours(env)
    findings = []
    for foreign in foreign_instrumentors():
        if foreign.entry_point in off or foreign.ours in off:
            continue  # the user chose; opentelemetry-instrument loads one
        if not _installed(foreign.library):
            continue  # neither instrumentor activates
        subject = f"instrumentors {foreign.ours} + {foreign.entry_point}"
        also = f"{foreign.library} is also instrumented by {foreign.entry_point} " \
               f"({foreign.distribution})"
        if handled:
            dropped, kept = dropped_and_kept(foreign, prefer_ours)
            findings.append(Finding(
                Severity.INFO, subject,
                f"{also}; tripwire's set-up disables {dropped} and keeps {kept} (one span "
                "per call)", "TRIPWIRE_PREFERRED_INSTRUMENTOR=" +
                ("other keeps theirs instead" if prefer_ours else "tripwire keeps tripwire's")))
        else:
            findings.append(Finding(
                Severity.WARNING, subject,
                f"{also}, and tripwire's distro and configurator are not in use: each call "
                "gives two spans",
                f"keep one: {DISABLED}={foreign.entry_point} keeps tripwire's, "
                f"{DISABLED}={foreign.ours} keeps theirs (both are enriched)"))
    return findings


def check_sdk_disabled(env: Mapping[str, str]) -> list[Finding]:
    value = env.get(SDK_DISABLED, "")
    if value.strip().lower() == "true":
        return [Finding(Severity.WARNING, _quote(SDK_DISABLED, value),
                        "the SDK is off: no span or metric is recorded or exported",
                        f"unset {SDK_DISABLED}")]
    return []


def check_environment(env: Mapping[str, str] | None = None) -> list[Finding]:
    """Every check, in reading order; errors are those that break the set-up."""
    env = dict(os.environ if env is None else env)
    findings: list[Finding] = []
    for check in (check_settings, check_names, check_sdk_disabled, check_distro_and_configurator,
                  check_protocols, check_exporters, check_endpoints, check_sampler,
                  check_instrumentors):
        try:
            findings += check(env)
        except Exception as exc:  # one check's own failure must not hide the others' findings
            findings.append(Finding(Severity.WARNING, check.__name__.removeprefix("check_"),
                                    f"could not be checked ({_error_text(exc)})"))
    return findings


__all__ = [
    "Finding",
    "Severity",
    "check_environment",
    "effective_environment",
    "tripwire_sets_up",
]
