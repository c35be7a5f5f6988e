"""Checks on the tool calls a model asked for: undeclared names, arguments that are not
JSON or that break the declared schema. Works on names and shapes only, never records
argument values."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tripwire._core.fields import deeper_than, text
from tripwire._core.memo import IdentityCache, by_identity
from tripwire.runtime import get_settings


@dataclass(frozen=True)
class RequestedToolCall:
    id: str | None
    name: str
    arguments: Any  # a JSON string (OpenAI) or an already-parsed object (Anthropic, Gemini)
    freeform: bool = False  # free text (OpenAI custom tools): no JSON, no schema to check


@dataclass
class ToolCallReport:
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def check_tool_calls(
    calls: Iterable[RequestedToolCall], declared: Mapping[str, Any] | None
) -> ToolCallReport:
    """``declared`` maps tool name → JSON schema of its parameters (None = no schema).

    ``declared is None`` means the request declared no tools: nothing is unknown then,
    because built-in/server-side tools may be in play.
    """
    report = ToolCallReport()
    for call in calls:
        # A name or id that is not text (a hostile answer) is recorded as an empty name /
        # left out: it can be neither looked up nor exported.
        name = text(call.name) or ""
        report.names.append(name)
        call_id = text(call.id)
        if call_id:
            report.ids.append(call_id)
        if declared is not None and name not in declared:
            report.unknown.append(name)
            continue
        if call.freeform:
            continue
        args = call.arguments
        if isinstance(args, (str, bytes)):
            try:
                args = json.loads(args) if args else {}
            except (ValueError, RecursionError):  # not JSON, or nested past any real use
                report.invalid.append(name)
                continue
        if deeper_than(args):  # no real arguments nest this deep; never walked further
            report.invalid.append(name)
            continue
        schema = declared.get(name) if declared is not None else None
        if schema and not _valid(args, schema):
            report.invalid.append(name)
    return report


_validators: IdentityCache = {}


def _validator(schema: Any) -> Any:
    import jsonschema

    return by_identity(_validators, schema,
                       lambda s: jsonschema.validators.validator_for(s)(s))


def _valid(instance: Any, schema: Any) -> bool:
    try:
        import jsonschema  # noqa: F401
    except ImportError:  # jsonschema is a dependency; stay correct without it anyway
        return isinstance(instance, dict) or not isinstance(schema, dict)
    try:
        return bool(_validator(schema).is_valid(instance))
    except Exception:  # a broken declared schema is the app's business, not a model error
        return True


def arguments_hash(arguments: Any) -> str:
    """Stable short hash of tool arguments: key order and whitespace do not matter."""
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            pass
    try:
        canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        canonical = repr(arguments)
    except RecursionError:  # nested past any real use: hashed by its text, not its structure
        canonical = str(arguments)[:65536] if isinstance(arguments, (str, bytes)) else "\x00deep"
    data = canonical.encode()
    # Unkeyed, a hash of short arguments (an e-mail address, an order id) can be reversed by
    # guessing; a secret salt prevents that while equal arguments still hash alike.
    salt = get_settings().hash_salt
    digest = hmac.new(salt.encode(), data, "sha256") if salt else hashlib.sha256(data)
    return digest.hexdigest()[:16]


_PROMPT_CACHED_CHARS = 8192  # longer prompts are hashed each time (cache: at most ~2 MB)


@functools.lru_cache(maxsize=256)  # the same system prompt comes back on every call
def _cached_digest(text: str) -> str:
    return _digest(text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prompt_hash(system_texts: Iterable[str]) -> str | None:
    texts = [t for t in system_texts if t]
    if not texts:
        return None
    joined = "\n".join(texts)
    return _cached_digest(joined) if len(joined) <= _PROMPT_CACHED_CHARS else _digest(joined)
