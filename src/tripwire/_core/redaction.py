"""Redaction of captured content before it is recorded (only runs when capture is on)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

# Built-in patterns: conservative, so ordinary prose is not mangled.
BUILTIN_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "card": r"\b(?:\d[ -]?){12,18}\d\b",
    "phone": r"(?<!\w)\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}(?!\w)",
    "ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "secret": r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b|\bAKIA[0-9A-Z]{16}\b|\bBearer\s+[A-Za-z0-9._~+/=-]{16,}",
}
REGEX_PREFIX = "regex:"


def validate_patterns(items: Iterable[str]) -> None:
    """Raise ValueError for an unknown built-in name or a regex that does not compile."""
    for item in items:
        if item.startswith(REGEX_PREFIX):
            re.compile(item[len(REGEX_PREFIX):])
        elif item not in BUILTIN_PATTERNS:
            raise ValueError(item)


@lru_cache(maxsize=32)
def _compiled(items: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for item in items:
        if item.startswith(REGEX_PREFIX):
            out.append(("custom", re.compile(item[len(REGEX_PREFIX):])))
        else:
            out.append((item, re.compile(BUILTIN_PATTERNS[item])))
    return out


def redact(
    text: str, items: tuple[str, ...], redactor: Callable[[str], str] | None = None
) -> str:
    for name, pattern in _compiled(items):
        text = pattern.sub(f"[REDACTED:{name}]", text)
    if redactor is not None:
        text = redactor(text)
    return text
