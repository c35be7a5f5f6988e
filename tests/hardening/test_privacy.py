"""Privacy, for every LLM SDK case: content off by default; API keys, auth headers and cloud
credentials never recorded in any capture mode; redaction before anything is recorded;
attribute length limits (``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` and our content cap).

Every check scans *everything* the pipeline produced: span names, status descriptions,
attribute keys and values (sequences item by item), event names and attributes, link
attributes and the attributes of every metric data point.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan

from hardening.harness import (
    ANSWER,
    LLMCase,
    LLMEnv,
    Pipeline,
    instrumented,
    llm_params,
    make_pipeline,
)
from tripwire import semconv
from tripwire._core.content import TRUNCATED
from tripwire.runtime import replace_settings, update_settings
from tripwire.settings import ContentCapture

CONTENT_KEYS = {semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES,
                semconv.GEN_AI_SYSTEM_INSTRUCTIONS, semconv.GEN_AI_TOOL_DEFINITIONS,
                semconv.GEN_AI_TOOL_CALL_ARGUMENTS, semconv.GEN_AI_TOOL_CALL_RESULT,
                semconv.GEN_AI_RETRIEVAL_QUERY_TEXT, semconv.GEN_AI_RETRIEVAL_DOCUMENTS}
# Request headers / credentials: no attribute may even be named after one.
CREDENTIAL_KEY = re.compile(r"authorization|api[-_.]?key|security[-_.]token|session[-_.]token|"
                            r"access[-_.]key|secret|password|credential|x-amz-|cookie",
                            re.IGNORECASE)
ALL_MODES = [pytest.param(m, id=m.value) for m in ContentCapture]
CAPTURING = [pytest.param(m, id=m.value) for m in ContentCapture if m.enabled]


# --- what the pipeline recorded ------------------------------------------------------------

def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield str(value)


def recorded(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(where, text) for every string the pipeline recorded, keys included."""
    out: list[tuple[str, str]] = []

    def attrs(where: str, mapping: Any) -> None:
        for key, value in (mapping or {}).items():
            out.append((f"{where} key", key))
            out.extend((f"{where} {key}", text) for text in _texts(value))

    for span in pipeline.spans():
        out.append(("span name", span.name))
        if span.status.description:
            out.append(("status", span.status.description))
        attrs(f"span {span.name!r}", span.attributes)
        for event in span.events:
            out.append(("event name", event.name))
            attrs(f"event {event.name!r}", event.attributes)
        for link in span.links:
            attrs("link", link.attributes)
    data = pipeline.reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs(f"metric {metric.name}", point.attributes)
    return out


def content_entries(spans: list[ReadableSpan]) -> list[tuple[str, str]]:
    found = []
    for span in spans:
        for key, value in (span.attributes or {}).items():
            if key in CONTENT_KEYS:
                found.append((key, str(value)))
        for event in span.events:
            for key, value in (event.attributes or {}).items():
                if key in CONTENT_KEYS:
                    found.append((f"event {key}", str(value)))
    return found


# --- calls with a prompt of our choosing, per case -------------------------------------------

SYSTEM = "You are a support bot for ACME."


def _openai(c: Any, prompt: str) -> Any:
    return c.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])


def _anthropic(c: Any, prompt: str) -> Any:
    return c.messages.create(model="claude-sonnet-4-5", max_tokens=64, system=SYSTEM,
                             messages=[{"role": "user", "content": prompt}])


def _gemini(c: Any, prompt: str) -> Any:
    return c.models.generate_content(model="gemini-2.0-flash", contents=prompt,
                                     config={"system_instruction": SYSTEM})


def _bedrock(c: Any, prompt: str) -> Any:
    return c.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", system=[{"text": SYSTEM}],
                      messages=[{"role": "user", "content": [{"text": prompt}]}])


PROMPT_CALLS: dict[str, Callable[[Any, str], Any]] = {
    "openai": _openai, "anthropic": _anthropic, "google_genai": _gemini, "bedrock": _bedrock}


def _scenario(env: LLMEnv, answer: str = ANSWER) -> None:
    """A call, a stream with usage, a stream without, an error."""
    case, server, client = env.case, env.server, env.client()
    server.enqueue(case.ok(answer))
    case.call(client)
    server.enqueue(case.ok(answer))
    assert "".join(case.chunk_text(c) for c in case.open_stream(client)) == answer
    server.enqueue(case.ok(answer, usage=False))
    "".join(case.chunk_text(c) for c in case.open_stream(client, usage=False))
    server.enqueue(case.error())
    with pytest.raises(Exception) as info:
        case.call(client)
    assert type(info.value).__name__ == case.error_type


# --- content off by default --------------------------------------------------------------

def test_content_is_off_by_default(llm: LLMEnv) -> None:
    _scenario(llm)
    PROMPT_CALLS[llm.case.name](llm.client(), "my secret plan is Rumpelstiltskin")
    spans = llm.llm_spans()
    assert len(spans) == 5
    assert content_entries(llm.pipeline.spans()) == []
    assert not [e for s in spans for e in s.events
                if e.name == semconv.EVENT_GEN_AI_CLIENT_INFERENCE_DETAILS]
    for where, text in recorded(llm.pipeline):
        for needle in ("quick brown fox", "Rumpelstiltskin", "tell me", SYSTEM):
            assert needle not in text, (where, text)


# --- credentials, in every mode -----------------------------------------------------------

@pytest.mark.parametrize("mode", ALL_MODES)
def test_credentials_never_recorded(llm: LLMEnv, mode: ContentCapture) -> None:
    replace_settings(capture_content=mode)
    _scenario(llm)
    texts = recorded(llm.pipeline)
    assert len(llm.llm_spans()) == 4
    for where, text in texts:
        for secret in llm.case.secrets:
            assert secret not in text, (where, text)
        if where.endswith(" key"):
            assert not CREDENTIAL_KEY.search(text), (where, text)
    # the scan is meaningful: content is recorded exactly when a capture mode is on
    assert any("quick brown fox" in text for _, text in texts) is mode.enabled


# --- redaction -----------------------------------------------------------------------------

PII = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "phone": "+1 415-555-0100",
    "custom": "TKT-98765",
    "callable": "Rumpelstiltskin",
}
PII_PROMPT = (f"Mail {PII['email']} or call {PII['phone']}; card {PII['card']}; ticket "
              f"{PII['custom']}; my name is {PII['callable']}")
PII_ANSWER = f"Noted {PII['email']}, card {PII['card']}, ticket {PII['custom']}, {PII['callable']}"


@pytest.mark.parametrize("mode", CAPTURING)
def test_redaction_runs_before_anything_is_recorded(
        llm: LLMEnv, mode: ContentCapture, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def redactor(text: str) -> str:
        seen.append(text)
        return text.replace(PII["callable"], "[NAME]")

    monkeypatch.setenv("TRIPWIRE_CONTENT_REDACTION", r"email,card,phone,regex:TKT-\d+")
    update_settings(capture_content=mode, redactor=redactor)  # what configure() installs
    llm.server.enqueue(llm.case.ok(PII_ANSWER))
    PROMPT_CALLS[llm.case.name](llm.client(), PII_PROMPT)
    _scenario(llm, answer=PII_ANSWER)
    # the provider got the real prompt: redaction is for telemetry only
    assert PII["email"] in llm.server.requests[0].body.decode()
    for where, text in recorded(llm.pipeline):
        for kind, value in PII.items():
            assert value not in text, (kind, where, text)
    recorded_content = " ".join(text for _, text in content_entries(llm.pipeline.spans()))
    for marker in ("[REDACTED:email]", "[REDACTED:card]", "[REDACTED:phone]",
                   "[REDACTED:custom]", "[NAME]"):
        assert marker in recorded_content, marker
    assert SYSTEM in recorded_content  # not everything was blanked
    # built-ins ran first, the callable last: it never saw the PII the built-ins catch
    assert seen and not any(PII["email"] in text for text in seen)


def test_failing_redactor_records_no_content(llm: LLMEnv,
                                             caplog: pytest.LogCaptureFixture) -> None:
    def redactor(text: str) -> str:
        raise RuntimeError("redactor bug")

    update_settings(capture_content=ContentCapture.SPAN_AND_EVENT, redactor=redactor)
    with caplog.at_level(logging.WARNING, logger="tripwire"):
        _scenario(llm, answer=PII_ANSWER)  # the application is unaffected
    assert len(llm.llm_spans()) == 4
    assert content_entries(llm.pipeline.spans()) == []  # fail closed: nothing unredacted
    for where, text in recorded(llm.pipeline):
        assert PII["email"] not in text, (where, text)
    assert any("failed" in r.getMessage() for r in caplog.records if r.name == "tripwire")


# --- length limits --------------------------------------------------------------------------

LIMIT = 64


@pytest.mark.parametrize("case", llm_params())
def test_attribute_value_length_limit_holds_everywhere(
        case: LLMCase, monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline) -> None:
    """``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` caps every string the SDK records — and the
    attributes enrichment adds after the span ended (e.g. a feature name from baggage)."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", str(LIMIT))
    limited = make_pipeline()  # its TracerProvider reads the limit
    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT)
    long_answer = " ".join(["fox"] * 500)
    token = otel_context.attach(baggage.set_baggage(semconv.BAGGAGE_FEATURE, "f" * 500))
    try:
        with instrumented(case, limited) as env, \
                limited.provider.get_tracer("app").start_as_current_span("request"):
            _scenario(env, answer=long_answer)
    finally:
        otel_context.detach(token)
        limited.provider.shutdown()
    spans = limited.spans()
    assert len(spans) == 5
    assert any(semconv.TRIPWIRE_FEATURE in (s.attributes or {}) for s in spans)
    for span in spans:
        groups = [("span", span.attributes)] + [(e.name, e.attributes) for e in span.events]
        for where, attributes in groups:
            for key, value in (attributes or {}).items():
                for text in _texts(value) if not isinstance(value, (bool, int, float)) else ():
                    assert len(text) <= LIMIT, (span.name, where, key, len(text))


@pytest.mark.parametrize("mode", CAPTURING)
def test_content_cap_per_text_and_per_message_json(llm: LLMEnv, mode: ContentCapture) -> None:
    cap = 40
    replace_settings(capture_content=mode, content_max_length=cap)
    long_answer = " ".join(f"word{i}" for i in range(400))
    llm.server.enqueue(llm.case.ok(long_answer))
    PROMPT_CALLS[llm.case.name](llm.client(), "tell me " * 300)
    entries = content_entries(llm.pipeline.spans())
    assert {k.removeprefix("event ") for k, _ in entries} >= {
        semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES}
    for key, value in entries:
        assert len(value) <= cap * 4, (key, len(value))
        # still JSON a backend can parse, and every text in it capped
        for text in _json_strings(json.loads(value)):
            assert len(text) <= cap + len(TRUNCATED), (key, text)


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


# --- structured content: numbers are text too ------------------------------------------------

CARD_NUMBER = 4111111111111111


def test_numbers_in_structured_content_are_redacted(pipeline: Pipeline) -> None:
    """Tool arguments and results are recorded as JSON: a card number passed as an int must
    be redacted like the same number in a string."""
    import tripwire

    @tripwire.tool
    def charge(card: int, amount: float, note: str) -> dict[str, Any]:
        return {"charged": card, "amount": amount}

    update_settings(capture_content=ContentCapture.SPAN_ONLY, content_redaction="card,email")
    assert charge(CARD_NUMBER, 12.5, note="for jane.doe@example.com") == {
        "charged": CARD_NUMBER, "amount": 12.5}
    [span] = pipeline.spans()
    arguments = json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])
    result = json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT])
    assert arguments == {"card": "[REDACTED:card]", "amount": 12.5, "note": "for [REDACTED:email]"}
    assert result == {"charged": "[REDACTED:card]", "amount": 12.5}
    for where, text in recorded(pipeline):
        assert str(CARD_NUMBER) not in text, (where, text)


# --- provider errors that echo the request -------------------------------------------------

ECHOED = {"key": "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX", "email": "jane.doe@example.com",
          "card": "4111 1111 1111 1111"}
ECHO = (f"Invalid request: content 'my key is {ECHOED['key']}, mail {ECHOED['email']}, "
        f"card {ECHOED['card']}' is not allowed")


def _echoing_error(case_name: str) -> Any:
    """A 400 whose body repeats part of the prompt, as providers' validation errors do."""
    import tripwire.testing as testing
    from tripwire.testing import anthropic_server, bedrock_server, gemini_server

    return {
        "openai": lambda: testing.bad_request(ECHO),
        "anthropic": lambda: anthropic_server.anthropic_error(400, "invalid_request_error", ECHO),
        "google_genai": lambda: gemini_server.gemini_error(400, ECHO),
        "bedrock": lambda: bedrock_server.bedrock_error(400, "ValidationException", ECHO),
    }[case_name]()


@pytest.mark.parametrize("mode", ALL_MODES)
def test_an_error_that_echoes_the_prompt_leaks_nothing(llm: LLMEnv, mode: ContentCapture) -> None:
    """With capture off the status says the error type and HTTP status only; with capture on
    the message is redacted like content."""
    replace_settings(capture_content=mode, content_redaction=("email", "card", "secret"))
    client = llm.client()
    llm.server.enqueue(_echoing_error(llm.case.name))
    with pytest.raises(Exception) as raised:
        llm.case.call(client)
    assert ECHOED["email"] in str(raised.value)  # the application still sees the real error
    [span] = llm.llm_spans()
    description = span.status.description or ""
    assert description.startswith(span.attributes[semconv.ERROR_TYPE])
    if not mode.enabled:
        assert description == f"{span.attributes[semconv.ERROR_TYPE]} (HTTP 400)"
    for where, text in recorded(llm.pipeline):
        for secret in ECHOED.values():
            assert secret not in text, (where, text)
    if mode.enabled:
        assert "[REDACTED:email]" in description
