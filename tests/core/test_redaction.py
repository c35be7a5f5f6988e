"""Redaction is exact on adversarial inputs (no timing here: benchmarks/redaction.py measures
that every built-in is linear), finds every match of a kind in one text, never leaves part of
an item that straddles the content cap, and runs user patterns on RE2."""

from __future__ import annotations

import logging

import pytest

from tripwire._core import content, redaction
from tripwire._core.redaction import redact
from tripwire.errors import ConfigError
from tripwire.settings import ContentCapture, Settings, load_settings

ALL = ("email", "card", "phone", "ipv4", "secret")
R = "[REDACTED:{}]".format


@pytest.mark.parametrize(("text", "expected"), [
    # long runs of each pattern's alphabet, with no item in them: unchanged
    ("a" * 5000, "a" * 5000),
    ("a.b_c%d+e-" * 500, "a.b_c%d+e-" * 500),
    ("0123456789abcdef" * 300, "0123456789abcdef" * 300),
    ("@a." * 2000, "@a." * 2000),
    ("sk-" * 2000 + " ", R("secret") + " "),  # one long token-shaped run: one item
    ("1.2.3" + ".a" * 3000, "1.2.3" + ".a" * 3000),  # an IP near-miss, then a long tail
    # near-misses next to a real item: only the item goes
    ("a" * 3000 + "@example.com", R("email")),
    ("x" * 3000 + " a@b.co " + "@b" * 100, "x" * 3000 + f" {R('email')} " + "@b" * 100),
    ("1" * 3000 + " 4111 1111 1111 1111", "1" * 3000 + f" {R('card')}"),
    ("sk-" * 100 + "abcdefghijklmnop1234", R("secret")),
    ("Bearer " * 50 + "abcdefghijklmnop1234", "Bearer " * 49 + R("secret")),
])
def test_adversarial_inputs_give_exactly_the_redaction_expected(text: str, expected: str) -> None:
    assert redact(text, ALL) == expected


def test_every_match_of_a_kind_in_one_text_is_redacted() -> None:
    text = ("ann@example.com, bob.smith@mail.example.org and c+d@x.io; "
            "4111 1111 1111 1111 / 5500-0000-0000-0004; 10.0.0.1 and 192.168.1.20; "
            "sk-abcdefghijklmnopqrst then sk-zyxwvutsrqponmlkjihg; "
            "AKIAABCDEFGHIJKLMNOP, AKIAPONMLKJIHGFEDCBA")
    out = redact(text, ALL)
    assert out.count(R("email")) == 3
    assert out.count(R("card")) == 2
    assert out.count(R("ipv4")) == 2
    assert out.count(R("secret")) == 4
    for secret in ("ann", "bob", "c+d", "4111", "5500", "10.0", "192", "abcdefgh", "zyxw",
                   "AKIA"):
        assert secret not in out


@pytest.mark.parametrize("offset", range(-20, 6))
def test_an_item_straddling_the_content_cap_leaves_nothing_of_itself(offset: int) -> None:
    cap = 200
    settings = Settings(capture_content=ContentCapture.SPAN_ONLY, content_max_length=cap,
                        content_redaction=ALL)
    for item in ("john.doe@example.com", "4111 1111 1111 1111", "sk-abcdefghijklmnopqrst"):
        text = "x" * (cap + offset) + " " + item + " tail " + "y" * 5000
        out = content.clean_text(text, settings)
        assert out.endswith(content.TRUNCATED)
        for fragment in ("john", "doe", "example", "4111", "abcdefg"):
            assert fragment not in out, (offset, item, out[-40:])


def test_text_past_the_cap_is_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(content, "redact",
                        lambda text, items, redactor=None: (seen.append(len(text)), text)[1])
    settings = Settings(capture_content=ContentCapture.SPAN_ONLY, content_max_length=100,
                        content_redaction=("email",))
    content.clean_text("z" * 1_000_000, settings)
    assert seen == [100 + content.REDACTION_MARGIN]


def test_user_patterns_run_on_re2_and_what_it_cannot_run_is_a_config_error() -> None:
    assert redaction._re2 is not None  # the test extra installs google-re2
    settings = load_settings({}, {"content_redaction": "regex:order-[0-9]{4}"})
    assert redact("order-1234 and order-5678", settings.content_redaction) == \
        f"{R('custom')} and {R('custom')}"
    kinds = {type(p).__module__ for _, p in redaction._compiled(settings.content_redaction)}
    assert any("re2" in kind for kind in kinds)
    with pytest.raises(ConfigError, match="TRIPWIRE_CONTENT_REDACTION"):
        load_settings({}, {"content_redaction": r"regex:(a)\1"})  # a backreference
    with pytest.raises(ConfigError, match="TRIPWIRE_CONTENT_REDACTION"):
        load_settings({}, {"content_redaction": r"regex:a(?=b)"})  # lookahead


def test_without_re2_user_patterns_fall_back_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(redaction, "_re2", None)
    redaction._warn_backtracking.cache_clear()
    redaction._compiled.cache_clear()
    try:
        for _ in range(3):
            redaction.validate_patterns([r"regex:(a)\1"])
        assert redact("xaay", (r"regex:(a)\1",)) == f"x{R('custom')}y"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                    and "backtracking" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        redaction._warn_backtracking.cache_clear()
        redaction._compiled.cache_clear()
