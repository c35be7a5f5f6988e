"""Content capture: GenAI message JSON (input/output messages, system instructions).

Nothing here runs unless capture is on; callers check :func:`capturing` first so that no
content is even serialised by default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tripwire._core.fields import MAX_DEPTH, TOO_DEEP, safe_text
from tripwire._core.redaction import redact
from tripwire.runtime import get_settings
from tripwire.settings import ContentCapture, Settings

TRUNCATED = "…[truncated]"
# Characters past the content cap that redaction still reads (longer than any bounded
# built-in item: an address, a card or phone number, an IP, an AWS key id).
REDACTION_MARGIN = 512


def capture_mode() -> ContentCapture:
    return get_settings().capture_content


def clean_text(text: Any, settings: Settings | None = None) -> str:
    """Redact then cap a single piece of captured text."""
    settings = settings or get_settings()
    value = text if isinstance(text, str) else str(text)
    limit = settings.content_max_length
    cut = len(value) > limit
    if cut:
        # What is never recorded is never scanned; the margin lets an item that straddles
        # the cap be seen whole, so no prefix of it survives the final cut.
        value = value[:limit + REDACTION_MARGIN]
    if settings.content_redaction or settings.redactor is not None:
        value = redact(value, settings.content_redaction, settings.redactor)
    if cut or len(value) > limit:
        value = value[:limit] + TRUNCATED
    return safe_text(value)


def to_json(value: Any, settings: Settings | None = None) -> str:
    """Serialise captured structures; the whole string is capped as well as each text.

    The result is always valid JSON (backends parse these attributes): past the cap the
    texts inside are shortened further, then the oldest list items dropped.
    """
    settings = settings or get_settings()
    cleaned = _clean(value, settings)
    text = _dumps(cleaned)
    # A hard cap for the serialised form: many parts can each be under the limit.
    hard_cap = settings.content_max_length * 4
    if len(text) <= hard_cap:
        return text
    # Over the cap: shorter texts first, then the oldest list items, then ever shorter texts.
    limit = max(settings.content_max_length // 4, 16)
    cleaned = _shorten(cleaned, limit)
    text = _dumps(cleaned)
    if len(text) > hard_cap and isinstance(cleaned, list):
        sizes = [len(_dumps(item)) + 1 for item in cleaned]
        total, start = sum(sizes) + 1, 0
        while start < len(cleaned) - 1 and total > hard_cap:
            total -= sizes[start]
            start += 1
        cleaned = cleaned[start:]
        text = _dumps(cleaned)
    while len(text) > hard_cap and limit > 1:
        limit //= 4
        text = _dumps(_shorten(cleaned, limit))
    return text if len(text) <= hard_cap else _dumps(TRUNCATED)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + TRUNCATED
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def _clean(value: Any, settings: Settings, depth: int = 0) -> Any:
    """``value`` as JSON-ready content: every text (keys too) redacted and capped, numbers
    JSON can carry, anything else as its (cleaned) text, and nothing nested deeper than
    :data:`~tripwire._core.fields.MAX_DEPTH` (a hostile answer nests past the recursion
    limit; deeper parts become :data:`~tripwire._core.fields.TOO_DEEP`)."""
    if isinstance(value, str):
        return clean_text(value, settings)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value - value != 0:
        return str(value)  # NaN, ±inf: not JSON (backends parse these attributes)
    if isinstance(value, (int, float)):
        if isinstance(value, int) and not -_BIG < value < _BIG:
            return TRUNCATED  # no real number; its text form is slow (or refused) to make
        if settings.content_redaction or settings.redactor is not None:
            # A card or phone number passed as a number is as private as the same digits
            # in a string: redact its text form, and keep the number only when nothing
            # matched.
            text = str(value)
            cleaned = redact(text, settings.content_redaction, settings.redactor)
            return value if cleaned == text else cleaned
        return value
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, dict):  # keys are content too: {"jane@example.com": ...}
            return {clean_text(k if isinstance(k, str) else _text_of(k), settings):
                    _clean(v, settings, depth + 1) for k, v in value.items()}
        return [_clean(v, settings, depth + 1) for v in value]
    return clean_text(_text_of(value), settings)  # never str() after cleaning (json default)


# Integers beyond this are no quantity anyone sends; str() of a huge one is slow (and refused
# past 4,300 digits).
_BIG = 10**64


def _text_of(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a repr that fails or recurses past the limit: the type is enough
        return type(value).__name__


# --- GenAI message schema builders --------------------------------------------------------

def text_part(content: Any) -> dict[str, Any]:
    return {"type": "text", "content": content}


def system_instructions(texts: list[str]) -> Callable[[], list[dict[str, Any]]] | None:
    """A request's lazy ``gen_ai.system_instructions``: a text part per system text (the
    same list, read when content is captured); None when there is none."""
    return (lambda: [text_part(t) for t in texts]) if texts else None


def tool_call_part(call_id: str | None, name: str | None, arguments: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "name": name}
    if call_id:
        part["id"] = call_id
    part["arguments"] = parse_json_or_text(arguments)
    return part


def tool_response_part(call_id: str | None, response: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call_response", "response": response}
    if call_id:
        part["id"] = call_id
    return part


def message(role: str, parts: list[dict[str, Any]], finish_reason: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": role, "parts": parts}
    if finish_reason is not None:
        msg["finish_reason"] = finish_reason
    return msg


def parse_json_or_text(value: Any) -> Any:
    """Tool-call arguments as JSON when they parse, else the text itself (also when they
    nest past the parser's recursion limit)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value
