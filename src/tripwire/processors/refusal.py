"""Refusals and safety filters from finish reasons and (when captured) the output text.

Flags an instrumentor already set (``tripwire.refusal*``) are kept; either way the refusal is
counted on ``tripwire.refusals``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich

# finish reason (lower case) -> category (None: the provider gives no category)
REFUSAL_FINISH_REASONS: dict[str, str | None] = {
    "content_filter": None,  # OpenAI, Azure OpenAI, Mistral
    "refusal": None,  # Anthropic
    "guardrail_intervened": "guardrail",  # Bedrock Converse
    "content_filtered": None,  # Bedrock
    "safety": "safety",  # Gemini
    "image_safety": "safety",
    "prohibited_content": "prohibited_content",
    "blocklist": "blocklist",
    "spii": "spii",
    "recitation": "recitation",
    "language": None,
    "error_content_filter": None,
    "sensitive": None,
}

# Opening phrases of a refusal; matched case-insensitively at the start of the reply.
REFUSAL_PATTERNS = re.compile(
    r"^\s*(?:i['\u2019]m sorry,? but |sorry,? but |i apologi[sz]e,? but |unfortunately,? )?"
    r"(?:i|we)\s*(?:can(?:not|['\u2019]t)|won['\u2019]t|am (?:not able|unable)|['\u2019]m (?:not able|unable))"
    r"\s+(?:help|assist|provide|comply|do that|fulfil|fulfill|create|generate|share|support)",
    re.IGNORECASE,
)
_TEXT_WINDOW = 300


def _reply_texts(raw: Any) -> list[str]:
    """Text parts of the assistant messages in a gen_ai.output.messages JSON string."""
    if not isinstance(raw, str) or not raw:
        return []
    try:
        messages = json.loads(raw)
    except ValueError:
        return []
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        parts = message.get("parts")
        if isinstance(parts, list):
            if any(isinstance(p, dict) and p.get("type") == "tool_call" for p in parts):
                return []  # the model acted; not a refusal
            texts += [p["content"] for p in parts if isinstance(p, dict)
                      and p.get("type") == "text" and isinstance(p.get("content"), str)]
    return texts


class RefusalEnricher:
    name = "refusal"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        if not span.is_inference:
            return False
        attrs = span.attributes
        if attrs.get(semconv.TRIPWIRE_REFUSAL) is True:  # set by the instrumentor: count only
            self._count(span, attrs.get(semconv.TRIPWIRE_REFUSAL_SOURCE))
            return False
        out: dict[str, Any] = {}
        reasons = attrs.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
        if isinstance(reasons, str):
            reasons = (reasons,)
        for reason in reasons or ():
            key = str(reason).lower()
            if key in REFUSAL_FINISH_REASONS:
                out[semconv.TRIPWIRE_REFUSAL] = True
                out[semconv.TRIPWIRE_REFUSAL_SOURCE] = semconv.REFUSAL_SOURCE_FINISH_REASON
                category = REFUSAL_FINISH_REASONS[key]
                if category:
                    out[semconv.TRIPWIRE_REFUSAL_CATEGORY] = category
                break
        if not out and span.settings.refusal_text_patterns:
            texts = _reply_texts(attrs.get(semconv.GEN_AI_OUTPUT_MESSAGES))
            if texts and all(REFUSAL_PATTERNS.match(t[:_TEXT_WINDOW]) for t in texts):
                out[semconv.TRIPWIRE_REFUSAL] = True
                out[semconv.TRIPWIRE_REFUSAL_SOURCE] = semconv.REFUSAL_SOURCE_TEXT_PATTERN
        if not out:
            return False
        self._count(span, out[semconv.TRIPWIRE_REFUSAL_SOURCE])
        added.update(out)
        return True

    @staticmethod
    def _count(span: SpanData, source: Any) -> None:
        attrs = span.metric_attributes()
        if isinstance(source, str):
            attrs[semconv.TRIPWIRE_REFUSAL_SOURCE] = source
        span.instruments.refusals.add(1, attrs)
