"""Redaction replaces *every* item of a kind, wherever it sits: several emails and card
numbers in one text, back to back, at both ends, in every captured message of a real SDK
call; exact outputs, so a pattern that stops after its first match fails
(docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
import re

import pytest

from tripwire import semconv as sc
from tripwire._core.redaction import BUILTIN_PATTERNS, redact, validate_patterns
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing import FakeOpenAIServer, chat_reply

R = "[REDACTED:{}]".format
ALL = ("email", "card", "phone", "ipv4", "secret")


@pytest.mark.parametrize(("text", "expected"), [
    ("a@x.io b@y.io c@z.io", f"{R('email')} {R('email')} {R('email')}"),
    ("a@x.io,b@y.io", f"{R('email')},{R('email')}"),
    ("mail ann.lee@example.com or ann.lee@example.com!",
     f"mail {R('email')} or {R('email')}!"),
    ("@x.io a@x.io", f"@x.io {R('email')}"),  # nothing before the first "@": not an address
    ("first.last+tag@sub.example.co.uk", R("email")),
    ("no address here", "no address here"),
])
def test_every_email_in_a_text(text: str, expected: str) -> None:
    assert redact(text, ("email",)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("4111 1111 1111 1111 and 5500-0000-0000-0004",
     f"{R('card')} and {R('card')}"),
    ("cards: 4111111111111111, 4012888888881881, 378282246310005.",
     f"cards: {R('card')}, {R('card')}, {R('card')}."),
])
def test_every_card_number_in_a_text(text: str, expected: str) -> None:
    assert redact(text, ("card",)) == expected


def test_every_item_of_every_kind_in_one_text_exactly() -> None:
    text = ("ann@example.com; 4111 1111 1111 1111; 10.0.0.1; sk-abcdefghijklmnopqrst; "
            "bob@example.org; 5500-0000-0000-0004; 192.168.1.20; sk-zyxwvutsrqponmlkjihg")
    expected = "; ".join([R("email"), R("card"), R("ipv4"), R("secret")] * 2)
    assert redact(text, ALL) == expected
    # the order the setting names them in does not matter
    assert redact(text, tuple(reversed(ALL))) == expected


def test_a_user_redactor_runs_after_the_patterns() -> None:
    seen: list[str] = []

    def redactor(text: str) -> str:
        seen.append(text)
        return text.replace("Paris", "[CITY]")

    assert redact("a@x.io in Paris, b@y.io in Paris", ("email",), redactor) == \
        f"{R('email')} in [CITY], {R('email')} in [CITY]"
    assert seen == [f"{R('email')} in Paris, {R('email')} in Paris"]


def test_unknown_names_are_rejected_and_known_ones_accepted() -> None:
    validate_patterns(list(BUILTIN_PATTERNS))
    validate_patterns(["regex:order-[0-9]+"])
    with pytest.raises(ValueError, match=r"^passport$"):  # names what it does not know
        validate_patterns(["email", "passport"])
    backreference = r"(a)\1"  # not linear time: RE2 refuses it
    with pytest.raises(ValueError, match=re.escape(f"{backreference!r}: RE2 cannot run it")):
        validate_patterns([f"regex:{backreference}"])


def test_a_real_call_redacts_every_email_and_card_in_every_message(
        tracer_provider, meter_provider, span_exporter) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY,
                     content_redaction=("email", "card"))
    question = ("Mail ann@example.com and bob@example.org; cards 4111 1111 1111 1111 "
                "and 5500-0000-0000-0004.")
    answer = "Done: wrote to ann@example.com and bob@example.org, charged 4111111111111111."
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        with FakeOpenAIServer() as server:
            server.enqueue(chat_reply(answer))
            server.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    finally:
        instrumentor.uninstrument()
    [span] = span_exporter.get_finished_spans()
    [sent] = json.loads(span.attributes[sc.GEN_AI_INPUT_MESSAGES])
    [got] = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert sent["parts"][0]["content"] == (
        f"Mail {R('email')} and {R('email')}; cards {R('card')} and {R('card')}.")
    assert got["parts"][0]["content"] == (
        f"Done: wrote to {R('email')} and {R('email')}, charged {R('card')}.")


# --- the RE2 engine, imported on first use -----------------------------------------------------


def test_re2_engine_is_the_re2_module_once_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from tripwire._core import redaction

    # From "not loaded yet": a module loaded by an earlier test would hide the import step.
    monkeypatch.setattr(redaction, "_re2", redaction._UNLOADED)
    engine = redaction._re2_engine()
    assert engine is not None and engine.__name__ == "re2"
    assert redaction._re2_engine() is engine  # loaded once, then kept


def test_without_the_re2_extra_the_engine_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tripwire._core import redaction

    monkeypatch.setattr(redaction, "_re2", redaction._UNLOADED)
    monkeypatch.setitem(sys.modules, "re2", None)  # `import re2` raises ImportError
    assert redaction._re2_engine() is None
    assert redaction._re2 is None  # remembered: not tried again on every pattern
