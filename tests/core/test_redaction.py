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
    assert redaction._re2_engine() is not None  # the test extra installs google-re2
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


def test_token_estimates_of_long_texts_are_bounded_and_marked() -> None:
    from tripwire._core.tokens import EXTRAPOLATED, MAX_COUNTED_CHARS, count_tokens

    short, method = count_tokens("word " * 1000, "gpt-4o")
    assert not method.endswith(EXTRAPOLATED)
    long_text = "word " * (MAX_COUNTED_CHARS // 5 * 20)  # 20 times the counted prefix
    tokens, long_method = count_tokens(long_text, "gpt-4o")
    assert long_method == method + EXTRAPOLATED
    assert tokens == pytest.approx(short * 20 * MAX_COUNTED_CHARS // 5000, rel=0.01)


SECRETS = {
    "openai": "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2,
    "aws id": "AKIAIOSFODNN7EXAMPLE",
    "aws secret": 'aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    "google": "AIzaSyA1234567890abcdefghijklmnopqrstu1",
    "github": "ghp_" + "a1B2" * 9,
    "github pat": "github_pat_" + "A1_b" * 8,
    "slack": "xoxb-1234567890-abcdefABCDEF",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----",
    "bearer": "Bearer abcdefghijklmnopqrstuvwx",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_every_secret_format_is_redacted(kind: str) -> None:
    secret = SECRETS[kind]
    out = redact(f"here: {secret} and again {secret}.", ("secret",))
    assert out.count(R("secret")) == 2
    body = secret.split("=")[-1].strip('"').splitlines()[-1 if kind != "pem" else 1]
    assert body[-8:] not in out


@pytest.mark.parametrize("unit", ["eyJ", "xoxb-", "ghp_", "AIza", "aws_secret=",
                                  "-----BEGIN RSA PRIVATE KEY-----"])
def test_secret_prefix_chains_are_left_alone_or_redacted_whole(unit: str) -> None:
    text = unit * 2000
    out = redact(text, ("secret",))
    assert out in (text, R("secret")) or set(out.split(R("secret"))) <= {"", unit}


def test_prose_with_secret_like_words_is_untouched() -> None:
    prose = ("The key to success: see page 40. Bearer bonds are paper; sk-8 is a skateboard. "
             "AIza is a name. -----BEGIN notes-----")
    assert redact(prose, ALL) == prose


@pytest.mark.parametrize("text, expected", [
    # a card followed by an address: the card pattern used to take the first octet along
    # and leave ".0.0.1" in the clear
    ("card 4111 1111 1111 1111 127.0.0.1 end", "card [REDACTED:card] [REDACTED:ipv4] end"),
    ("4111-1111-1111-1111 192.168.1.20", "[REDACTED:card] [REDACTED:ipv4]"),
    ("ip 10.0.0.1 4111 1111 1111 1111 x", "ip [REDACTED:ipv4] [REDACTED:card] x"),
])
def test_a_card_next_to_an_ip_address_leaves_no_fragment(text: str, expected: str) -> None:
    assert redact(text, ALL) == expected
