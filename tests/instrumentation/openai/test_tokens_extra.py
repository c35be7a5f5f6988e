"""Without the ``tokens`` extra (``bpe-openai``) and without a tiktoken cache, a stream that
ends without usage is estimated at characters/4 and says so; the missing extra is expected,
not logged as a failure."""

from __future__ import annotations

import logging
import sys

import pytest

from tripwire import semconv as sc
from tripwire._core.tokens import METHOD_CHARS, count_tokens, counter_for
from tripwire.testing import chat_reply

TEXT = "Once upon a time a keeper kept a light burning through every storm."
PROMPT = "Tell me a story about a lighthouse keeper"


@pytest.fixture
def no_tokens_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # import raises ImportError
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # and tiktoken has no encoding to load
    counter_for.cache_clear()
    yield
    counter_for.cache_clear()


def test_count_without_the_extra_is_chars_div_4_and_not_a_logged_failure(
        no_tokens_extra, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tripwire"):
        assert count_tokens("abcdefghi", "gpt-4o") == (3, METHOD_CHARS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_stream_without_usage_is_marked_chars_div_4(no_tokens_extra, env) -> None:
    env.server.enqueue(chat_reply(TEXT))
    for _ in env.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.TRIPWIRE_USAGE_ESTIMATE_METHOD] == METHOD_CHARS
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == (len(TEXT) + 3) // 4
