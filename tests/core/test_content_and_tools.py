"""Content helpers, redaction, token estimates and tool-call checks."""

from __future__ import annotations

import json

import pytest

from tripwire._core import content
from tripwire._core.tokens import METHOD_CHARS, count_tokens, counter_for, encoding_name_for_model
from tripwire._core.tools import RequestedToolCall, arguments_hash, check_tool_calls, prompt_hash
from tripwire.settings import Settings

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}


def test_tool_checks_unknown_invalid_json_and_schema() -> None:
    calls = [
        RequestedToolCall("c1", "get_weather", '{"city": "Paris"}'),
        RequestedToolCall("c2", "get_weather", '{"town": "Paris"}'),
        RequestedToolCall("c3", "get_weather", '{"city": '),
        RequestedToolCall("c4", "launch_rocket", "{}"),
    ]
    report = check_tool_calls(calls, {"get_weather": SCHEMA})
    assert report.names == ["get_weather"] * 3 + ["launch_rocket"]
    assert report.ids == ["c1", "c2", "c3", "c4"]
    assert report.unknown == ["launch_rocket"]
    assert report.invalid == ["get_weather", "get_weather"]


def test_no_declared_tools_means_nothing_unknown() -> None:
    report = check_tool_calls([RequestedToolCall(None, "web_search", {})], None)
    assert report.unknown == [] and report.invalid == []


def test_arguments_hash_ignores_key_order_and_spacing() -> None:
    assert arguments_hash('{"a": 1, "b": 2}') == arguments_hash({"b": 2, "a": 1})
    assert arguments_hash('{"a": 1}') != arguments_hash('{"a": 2}')
    assert len(arguments_hash("not json")) == 16


def test_prompt_hash_stable_and_absent_without_instructions() -> None:
    assert prompt_hash(["You are helpful."]) == prompt_hash(["You are helpful."])
    assert prompt_hash(["A"]) != prompt_hash(["B"])
    assert prompt_hash([]) is None and prompt_hash([""]) is None


def test_redaction_and_truncation() -> None:
    settings = Settings(content_redaction=("email", "card", "regex:order-\\d+"),
                        content_max_length=60)
    text = "mail bob@example.com card 4111 1111 1111 1111 about order-42"
    cleaned = content.clean_text(text, settings)
    assert "bob@example.com" not in cleaned and "4111" not in cleaned and "order-42" not in cleaned
    assert "[REDACTED:email]" in cleaned
    long = content.clean_text("x" * 100, Settings(content_max_length=10))
    assert long == "x" * 10 + content.TRUNCATED


def test_custom_redactor_runs_after_patterns() -> None:
    settings = Settings(redactor=lambda s: s.replace("secret", "[gone]"))
    assert json.loads(content.to_json([{"t": "a secret"}], settings)) == [{"t": "a [gone]"}]


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o-mini", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-4", "cl100k_base"),
    ("gpt-3.5-turbo", "cl100k_base"), ("o3-mini", "o200k_base"), (None, "o200k_base"),
])
def test_encoding_choice(model: str | None, encoding: str) -> None:
    assert encoding_name_for_model(model) == encoding


def test_token_count_offline_is_exact_for_known_text() -> None:
    # "Hello world" is 2 tokens in both o200k_base and cl100k_base.
    count, method = count_tokens("Hello world", "gpt-4o")
    assert count == 2
    assert method in ("tiktoken", "bpe_openai")


def test_tiktoken_used_when_its_cache_holds_the_encoding(tmp_path, monkeypatch) -> None:
    import gzip
    import hashlib
    from importlib import resources

    data = gzip.decompress(resources.files("bpe_openai.data").joinpath("cl100k_base.tiktoken.gz").read_bytes())
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    counter_for.cache_clear()
    try:
        count, method = count_tokens("Hello world", "gpt-4")
        assert (count, method) == (2, "tiktoken")
    finally:
        counter_for.cache_clear()


def test_fallback_when_no_encoding_loads(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name in ("tiktoken", "bpe_openai"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    counter_for.cache_clear()
    try:
        assert count_tokens("abcdefgh", "gpt-4o") == (2, METHOD_CHARS)
    finally:
        monkeypatch.undo()
        counter_for.cache_clear()


def test_message_json_over_the_cap_stays_valid_json() -> None:
    import json

    from tripwire.settings import Settings

    settings = Settings(content_max_length=50)
    messages = [content.message("user", [content.text_part(f"message {i} " + "x" * 45)])
                for i in range(20)]
    text = content.to_json(messages, settings)
    assert len(text) <= 200
    kept = json.loads(text)  # valid JSON, not a cut string
    assert isinstance(kept, list) and kept
    # the newest messages are the ones kept
    assert kept[-1]["parts"][0]["content"].startswith("message 19")
    # one huge text alone is shortened, not cut mid-JSON
    single = json.loads(content.to_json({"role": "user", "parts": [
        content.text_part("y" * 10_000)]}, settings))
    assert single["parts"][0]["content"].endswith(content.TRUNCATED)


def test_arguments_hash_with_a_secret_salt() -> None:
    from tripwire._core.tools import arguments_hash
    from tripwire.runtime import replace_settings, set_settings

    set_settings(None)
    plain = arguments_hash({"email": "a@example.com"})
    replace_settings(hash_salt="s3cret")
    salted = arguments_hash({"email": "a@example.com"})
    assert salted != plain  # a guess hashed without the key no longer matches
    assert salted == arguments_hash('{"email":  "a@example.com"}')  # still canonical
    replace_settings(hash_salt="other")
    assert arguments_hash({"email": "a@example.com"}) not in (plain, salted)
