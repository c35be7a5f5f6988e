"""One settings object, read from ``TRIPWIRE_*`` / ``OTEL_*`` variables and ``configure()``.

Every setting is declared once in ``_SPECS`` with its variable, parser and accepted values, so
validation, the README table (``docs/configuration.md``) and the error messages agree. This
module only parses and validates; the settings in force are held by the process runtime
(:func:`tripwire.runtime.get_settings`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from tripwire._core.redaction import validate_patterns
from tripwire.errors import ConfigError

logger = logging.getLogger("tripwire")


class ContentCapture(str, Enum):
    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (ContentCapture.EVENT_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not ContentCapture.NO_CONTENT


class BudgetMode(str, Enum):
    FLAG = "flag"
    ENFORCE = "enforce"


class StoreFailure(str, Enum):
    OPEN = "open"  # calls go ahead, spans flagged
    CLOSED = "closed"  # calls refused


class PreferredInstrumentor(str, Enum):
    TRIPWIRE = "tripwire"  # zero-code set-up disables other GenAI instrumentors of our libraries
    OTHER = "other"  # ... or disables ours for the libraries another one instruments


@dataclass(frozen=True)
class Settings:
    capture_content: ContentCapture = ContentCapture.NO_CONTENT
    content_max_length: int = 16384
    content_redaction: tuple[str, ...] = ()
    redactor: Callable[[str], str] | None = None
    prices_file: str | None = None
    budgets_file: str | None = None
    budget_trace_usd: float | None = None
    budget_trace_tokens: int | None = None
    budget_agent_run_usd: float | None = None
    budget_mode: BudgetMode = BudgetMode.FLAG
    budget_warn_ratio: float = 0.8
    budget_output_estimate: int = 1024
    budget_store: str | None = None
    budget_store_failure: StoreFailure = StoreFailure.OPEN
    budget_store_namespace: str = "tripwire"
    budget_store_timeout_ms: float = 50.0
    budget_reservation_ttl_seconds: float = 900.0
    context_window_warning: float = 0.8
    tool_loop_threshold: int = 3
    agent_max_steps: int | None = None
    retrieval_min_similarity: float = 0.5
    retrieval_max_distance: float = 1.0
    refusal_text_patterns: bool = True
    state_max_entries: int = 10000
    state_ttl_seconds: float = 3600.0
    disabled_enrichers: frozenset[str] = field(default_factory=frozenset)
    feature: str | None = None
    hash_salt: str | None = None
    preferred_instrumentor: PreferredInstrumentor = PreferredInstrumentor.TRIPWIRE


# --- parsers: each returns the parsed value or raises ValueError --------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_capture(raw: Any) -> ContentCapture:
    if isinstance(raw, ContentCapture):
        return raw
    if isinstance(raw, bool):
        return ContentCapture.SPAN_ONLY if raw else ContentCapture.NO_CONTENT
    text = str(raw).strip()
    if text.lower() in _TRUE:
        return ContentCapture.SPAN_ONLY
    if text.lower() in _FALSE or text == "":
        return ContentCapture.NO_CONTENT
    return ContentCapture(text.upper())


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _ratio(raw: Any) -> float:
    value = _non_negative_float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


def _optional_usd(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    value = _non_negative_float(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _optional_tokens(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    return _positive_int(raw)


def _optional_path(raw: Any) -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    path = os.fspath(raw)
    if not os.path.isfile(path):
        raise ValueError(raw)
    return path


def _string_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, (list, tuple, set, frozenset)):
        return tuple(str(item) for item in raw)
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def _redaction(raw: Any) -> tuple[str, ...]:
    items = _string_list(raw)
    validate_patterns(items)
    return items


def _enricher_names(raw: Any) -> frozenset[str]:
    known = {"cost", "rollup", "budget", "refusal", "drift", "context_window", "tool_loop",
             "agents"}
    items = frozenset(_string_list(raw))
    if not items <= known:
        raise ValueError(raw)
    return items


def _callable(raw: Any) -> Callable[[str], str] | None:
    if raw is None or callable(raw):
        return raw  # type: ignore[no-any-return]
    raise ValueError(raw)


def _store_url(raw: Any) -> str | None:
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(raw)
    if importlib.util.find_spec("redis") is None:  # checked now, not at the first call
        raise ValueError(raw)
    return text


def _namespace(raw: Any) -> str:
    text = str(raw).strip()
    if not text or any(ch.isspace() for ch in text):
        raise ValueError(raw)
    return text


def _positive_float(raw: Any) -> float:
    value = _non_negative_float(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _optional_str(raw: Any) -> str | None:
    text = str(raw).strip() if raw is not None else ""
    return text or None


@dataclass(frozen=True)
class _Spec:
    name: str
    env: str | None
    parse: Callable[[Any], Any]
    accepted: str
    doc: str


_SPECS: tuple[_Spec, ...] = (
    _Spec("capture_content", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", _parse_capture,
          "one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT, true, false",
          "Record prompts, completions, tool arguments and retrieval text. Off by default."),
    _Spec("content_max_length", "TRIPWIRE_CONTENT_MAX_LENGTH", _positive_int,
          "a positive integer (characters)",
          "Cap on each recorded content attribute (message JSON, tool arguments)."),
    _Spec("content_redaction", "TRIPWIRE_CONTENT_REDACTION", _redaction,
          "comma-separated built-in names (email, card, phone, ipv4, secret) or regex:<pattern> (RE2 syntax with tripwire-otel[re2])",
          "Redaction applied to content before it is recorded."),
    _Spec("redactor", None, _callable, "a callable str -> str",
          "Custom redaction function (configure() only)."),
    _Spec("prices_file", "TRIPWIRE_PRICES_FILE", _optional_path, "a path to an existing JSON or YAML file",
          "Price/context-window overlay for negotiated, fine-tuned or self-hosted models."),
    _Spec("budgets_file", "TRIPWIRE_BUDGETS_FILE", _optional_path, "a path to an existing JSON or YAML file",
          "Per-conversation, per-user and rolling-window budgets."),
    _Spec("budget_trace_usd", "TRIPWIRE_BUDGET_TRACE_USD", _optional_usd, "a positive number of USD",
          "Budget per trace (one request) in USD."),
    _Spec("budget_trace_tokens", "TRIPWIRE_BUDGET_TRACE_TOKENS", _optional_tokens, "a positive integer",
          "Budget per trace in tokens (input + output)."),
    _Spec("budget_agent_run_usd", "TRIPWIRE_BUDGET_AGENT_RUN_USD", _optional_usd, "a positive number of USD",
          "Budget per agent or workflow run (each invoke_agent / invoke_workflow span, nested runs included) in USD."),
    _Spec("budget_mode", "TRIPWIRE_BUDGET_MODE", BudgetMode, "one of flag, enforce",
          "flag: mark spans, emit events and metrics. enforce: also refuse calls once a scope is spent."),
    _Spec("budget_warn_ratio", "TRIPWIRE_BUDGET_WARN_RATIO", _ratio, "a number in (0, 1]",
          "Share of a budget at which a warning is raised before it trips."),
    _Spec("budget_output_estimate", "TRIPWIRE_BUDGET_OUTPUT_ESTIMATE", _positive_int,
          "a positive integer (tokens)",
          "Output tokens a call is assumed to use when reserving its cost (enforce mode) and the request sets no output limit."),
    _Spec("budget_store", "TRIPWIRE_BUDGET_STORE", _store_url,
          "a redis://, rediss:// or unix:// URL (redis-py URL options allowed; needs tripwire-otel[redis]); empty: in this process",
          "Shared budget ledger, so that every worker and replica spends from one budget (extra tripwire-otel[redis])."),
    _Spec("budget_store_failure", "TRIPWIRE_BUDGET_STORE_FAILURE", StoreFailure, "one of open, closed",
          "When the budget store cannot be reached: open lets calls go ahead (spans flagged), closed refuses them."),
    _Spec("budget_store_namespace", "TRIPWIRE_BUDGET_STORE_NAMESPACE", _namespace,
          "a name without spaces", "Prefix of every key tripwire writes in the budget store."),
    _Spec("budget_store_timeout_ms", "TRIPWIRE_BUDGET_STORE_TIMEOUT_MS", _positive_float,
          "a positive number of milliseconds",
          "Connect and read timeout of each budget-store operation; after a failure the store is skipped for a few seconds."),
    _Spec("budget_reservation_ttl_seconds", "TRIPWIRE_BUDGET_RESERVATION_TTL_SECONDS", _positive_float,
          "a positive number of seconds",
          "How long a reservation held in the budget store outlives a process that died holding it."),
    _Spec("context_window_warning", "TRIPWIRE_CONTEXT_WINDOW_WARNING", _ratio, "a number in (0, 1]",
          "Context-window utilization at which tripwire.context_window.warning is set."),
    _Spec("tool_loop_threshold", "TRIPWIRE_TOOL_LOOP_THRESHOLD", _positive_int, "a positive integer",
          "Same tool with the same arguments this many times in a trace sets tripwire.tool.loop."),
    _Spec("agent_max_steps", "TRIPWIRE_AGENT_MAX_STEPS", _optional_tokens, "a positive integer",
          "An agent or workflow run with more steps (LLM calls + tool executions) sets tripwire.agent.max_steps_exceeded; empty: no limit."),
    _Spec("retrieval_min_similarity", "TRIPWIRE_RETRIEVAL_MIN_SIMILARITY", _non_negative_float,
          "a non-negative number", "Best similarity score below this marks a retrieval low_relevance."),
    _Spec("retrieval_max_distance", "TRIPWIRE_RETRIEVAL_MAX_DISTANCE", _non_negative_float,
          "a non-negative number", "Best distance above this marks a retrieval low_relevance."),
    _Spec("refusal_text_patterns", "TRIPWIRE_REFUSAL_TEXT_PATTERNS", _parse_bool, "true or false",
          "Detect refusals from captured output text (only when content capture is on)."),
    _Spec("state_max_entries", "TRIPWIRE_STATE_MAX_ENTRIES", _positive_int, "a positive integer",
          "Size bound of every cross-span table (traces, conversations, models)."),
    _Spec("state_ttl_seconds", "TRIPWIRE_STATE_TTL_SECONDS", _non_negative_float, "a non-negative number of seconds",
          "Age bound of every cross-span table."),
    _Spec("disabled_enrichers", "TRIPWIRE_DISABLED_ENRICHERS", _enricher_names,
          "comma-separated names among cost, rollup, budget, refusal, drift, context_window, tool_loop, agents",
          "Enrichers to switch off."),
    _Spec("feature", "TRIPWIRE_FEATURE", _optional_str, "any short name",
          "Default feature name used as a low-cardinality metric dimension."),
    _Spec("hash_salt", "TRIPWIRE_HASH_SALT", _optional_str, "any string (keep it secret)",
          "Key mixed into tripwire.tool.arguments_hash (HMAC-SHA-256) so short arguments cannot be guessed from it; use one value for every service of a trace."),
    _Spec("preferred_instrumentor", "TRIPWIRE_PREFERRED_INSTRUMENTOR", PreferredInstrumentor,
          "one of tripwire, other",
          "Under opentelemetry-instrument, when another GenAI instrumentor is installed for a library tripwire instruments: tripwire keeps ours and disables theirs, other keeps theirs (enriched by the processor) and disables ours."),
)
SPECS_BY_NAME = {spec.name: spec for spec in _SPECS}


def _parse(spec: _Spec, raw: Any) -> Any:
    try:
        return spec.parse(raw)
    except Exception:  # any parser failure (re.error for a bad regex, ...) is a bad value
        raise ConfigError(spec.env or spec.name, raw, spec.accepted) from None


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    strict: bool = True,
    errors: list[ConfigError] | None = None,
) -> Settings:
    """Build settings from ``env`` (default ``os.environ``) then ``overrides``.

    ``strict=False`` is for auto-instrumentation: an invalid value is collected in ``errors``
    (and the caller logs it) and that setting keeps its safe default, so the app still starts.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for spec in _SPECS:
        if spec.env and spec.env in env:
            try:
                values[spec.name] = _parse(spec, env[spec.env])
            except ConfigError as exc:
                if strict:
                    raise
                if errors is not None:
                    errors.append(exc)
    for key, raw in (overrides or {}).items():
        known = SPECS_BY_NAME.get(key)
        if known is None:
            raise ConfigError(key, raw, "a known setting: " + ", ".join(SPECS_BY_NAME))
        try:
            values[key] = _parse(known, raw)
        except ConfigError as exc:
            if strict:
                raise
            if errors is not None:
                errors.append(exc)
    return Settings(**values)


def parse_settings_file(path: str, text: str) -> Any:
    """The data in ``text``, read from a file a setting names (budgets, prices): YAML for
    ``.yaml``/``.yml``, JSON otherwise. Raises what the parser raises. YAML aliases are
    refused: these files never need them, and a few hundred bytes of nested aliases expand
    to gigabytes (a "billion laughs")."""
    if path.lower().endswith((".yaml", ".yml")):
        import yaml  # PyYAML: only for YAML files

        class NoAliases(yaml.SafeLoader):
            def compose_node(self, parent: Any, index: Any) -> Any:
                if self.check_event(yaml.AliasEvent):
                    raise yaml.YAMLError("YAML aliases are not allowed in settings files")
                return super().compose_node(parent, index)

        return yaml.load(text, Loader=NoAliases)
    return json.loads(text)


def read_settings_file(path: str, setting: str) -> Any:
    """Read and parse the file a setting names; every failure (missing, unreadable, not
    UTF-8, not JSON or YAML) is a :class:`ConfigError` naming the setting."""
    try:
        return parse_settings_file(path, Path(path).read_text(encoding="utf-8"))
    except Exception as exc:
        raise ConfigError(f"{setting} ({path})", f"{type(exc).__name__}: {str(exc)[:120]}",
                          "a readable UTF-8 JSON or YAML file") from None


def log_errors(errors: list[ConfigError]) -> None:
    """Log settings rejected by a lenient :func:`load_settings`: each keeps its default."""
    for exc in errors:
        logger.error("tripwire configuration: %s; this setting stays at its default", exc)
