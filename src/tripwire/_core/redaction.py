"""Redaction of captured content before it is recorded (only runs when capture is on).

Every built-in runs in time linear in the text's length, whatever the text: content is
whatever a user or a model wrote, and a pattern that backtracks over it would let anyone
burn the application's CPU on its own request thread. How each stays linear:

- ``email``: found from its ``@``: the domain by a pattern anchored on the ``@`` (its class
  excludes ``@``, so two scans never overlap), the local part by one walk back over
  local-part characters, which stops at the previous match or ``@``: each character is read
  a bounded number of times. (A regex with an unbounded local part retried every start
  position of a long run: quadratic.)
- ``card``, ``phone``, ``ipv4``: bounded repetitions of fixed-size groups, anchored on word
  boundaries: a constant amount of backtracking per start position.
- ``secret``: OpenAI/Stripe-style keys, AWS key ids (and secret keys where they are named),
  Google API keys, GitHub and Slack tokens, JWTs, PEM private-key blocks and bearer tokens;
  every unbounded token body is matched atomically (a lookahead capture re-read by a
  backreference: no backtracking into it, on every Python ≥ 3.10), the others are bounded.

User ``regex:`` patterns run on RE2 (``google-re2``, extra ``tripwire-otel[re2]``): linear
time, and a pattern RE2 cannot express (backreferences, lookaround) is a ``ConfigError``.
Without RE2 they run on Python's ``re`` over text already cut to the content cap, and a
warning says so once. docs/reliability.md lists every pattern tripwire runs over content.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Protocol

logger = logging.getLogger("tripwire")

# The optional extra tripwire-otel[re2] (a linear-time engine for user patterns), imported
# when a user pattern is first compiled: loading RE2 costs ~2 ms or more at import.
_UNLOADED: Any = object()
_re2: Any = _UNLOADED


def _re2_engine() -> Any:
    """The ``re2`` module, or None when the extra is not installed."""
    global _re2
    if _re2 is _UNLOADED:
        try:
            _re2 = importlib.import_module("re2")
        except ImportError:
            _re2 = None
    return _re2


_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
# The domain after an "@": labels and dots, ending in a dot and a 2+ letter TLD.
_EMAIL_DOMAIN = r"@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


def _atomic(name: str, body: str) -> str:
    """``body`` matched atomically: (?=(?P<n>X))(?P=n) — the engine never backtracks into
    it, so a long run is read once (Python < 3.11 has no possessive quantifiers)."""
    return f"(?=(?P<{name}>{body}))(?P={name})"


# Secret formats with a recognisable prefix (a bare 40-character AWS secret key is only
# recognised after its usual name: on its own it is any base64 token).
_SECRETS = (
    r"\b(?:sk|pk|rk)-" + _atomic("openai", "[A-Za-z0-9_-]{16,}"),  # OpenAI, Stripe, …
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    r"(?i:aws_secret_access_key|secret_access_key|aws_secret)[\"']?\s*[:=]\s*[\"']?"
    r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",  # AWS secret access key, where it is named
    r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",  # Google API key
    r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",  # GitHub
    r"\bxox[abposr]-" + _atomic("slack", "[A-Za-z0-9-]{10,}"),  # Slack
    r"\beyJ" + _atomic("jwt1", "[A-Za-z0-9_-]{8,}") + r"\.eyJ"
    + _atomic("jwt2", "[A-Za-z0-9_-]{8,}") + r"\." + _atomic("jwt3", "[A-Za-z0-9_-]{8,}"),
    r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----" + _atomic("pem", "[^-]*")
    + r"(?:-----END [A-Z ]{0,40}PRIVATE KEY-----)?",  # a key block, or all of what follows
    r"\bBearer\s+" + _atomic("bearer", "[A-Za-z0-9._~+/=-]{16,}"),
)

# Built-in patterns: conservative, so ordinary prose is not mangled.
BUILTIN_PATTERNS: dict[str, str] = {
    "email": "[A-Za-z0-9._%+-]+" + _EMAIL_DOMAIN,  # documentation; matched by _EmailPattern
    "card": r"\b(?:\d[ -]?){12,18}\d\b",
    "phone": r"(?<!\w)\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}(?!\w)",
    "ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "secret": "|".join(_SECRETS),
}
REGEX_PREFIX = "regex:"


class Substituter(Protocol):
    def sub(self, repl: str, text: str) -> str: ...


class _EmailPattern:
    """``email`` in linear time (see the module docstring)."""

    def __init__(self) -> None:
        self._domain = re.compile(_EMAIL_DOMAIN)

    def sub(self, repl: str, text: str) -> str:
        if "@" not in text:
            return text
        out: list[str] = []
        done = 0  # text[:done] is settled
        for match in self._domain.finditer(text):
            at = match.start()
            start = at
            while start > done and text[start - 1] in _LOCAL_CHARS:
                start -= 1
            if start == at:
                continue  # nothing before the "@": not an address
            out.append(text[done:start])
            out.append(repl)
            done = match.end()
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)


def _user_pattern(source: str) -> Substituter:
    engine = _re2_engine()
    if engine is not None:
        try:
            compiled: Any = engine.compile(source)
        except Exception as exc:  # re2.error: not expressible in linear time
            raise ValueError(f"{source!r}: RE2 cannot run it ({exc})") from None
        return compiled  # type: ignore[no-any-return]
    compiled = re.compile(source)
    _warn_backtracking()
    return compiled


@lru_cache(maxsize=1)
def _warn_backtracking() -> None:
    logger.warning("tripwire: regex: redaction patterns run on Python's backtracking re "
                   "(over text cut to TRIPWIRE_CONTENT_MAX_LENGTH); install "
                   "tripwire-otel[re2] to run them in linear time")


def validate_patterns(items: Iterable[str]) -> None:
    """Raise ValueError for an unknown built-in name or a regex that does not compile (on
    RE2 when it is installed)."""
    for item in items:
        if item.startswith(REGEX_PREFIX):
            _user_pattern(item[len(REGEX_PREFIX):])
        elif item not in BUILTIN_PATTERNS:
            raise ValueError(item)


# The most specific formats first, whatever order the setting lists them in: a broader
# pattern run first (a phone number inside a Slack token) would break the specific one and
# leave the rest of the secret in the clear.
_ORDER = {"secret": 0, "email": 1, "ipv4": 2, "card": 3, "phone": 4}


@lru_cache(maxsize=32)
def _compiled(items: tuple[str, ...]) -> list[tuple[str, Substituter]]:
    out: list[tuple[str, Substituter]] = []
    for item in sorted(items, key=lambda name: _ORDER.get(name, len(_ORDER))):
        if item.startswith(REGEX_PREFIX):
            out.append(("custom", _user_pattern(item[len(REGEX_PREFIX):])))
        elif item == "email":
            out.append((item, _EmailPattern()))
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
