"""Property: a secret of any supported kind, put anywhere in an arbitrary JSON shape — a key
or a value, at any depth, alone or inside text — never survives into recorded content, with
capture on and every built-in redaction on. (With capture off nothing is recorded at all:
test_privacy.py::test_content_is_off_by_default.)"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tripwire
from core.test_redaction import SECRETS
from hardening.harness import Pipeline
from tripwire._core import content
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture, Settings

REDACT = ("email", "card", "phone", "ipv4", "secret")
CAPTURE = Settings(capture_content=ContentCapture.SPAN_AND_EVENT, content_redaction=REDACT)
PII = [*SECRETS.values(), "jane.doe@example.com", "4111 1111 1111 1111"]
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="@-"), max_size=12)


def _with_secret(draw_text: st.DrawFn) -> str:
    secret = draw_text(st.sampled_from(PII))
    before, after = draw_text(WORDS), draw_text(WORDS)
    return f"{before} {secret} {after}"


@st.composite
def secret_text(draw: st.DrawFn) -> str:
    return _with_secret(draw)


leaves = st.one_of(st.integers(), st.booleans(), st.none(), WORDS, secret_text())
keys = st.one_of(WORDS, secret_text())
shapes = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


def _fingerprints(secret: str) -> list[str]:
    """Distinctive pieces of a secret: none may be recorded."""
    core = secret.replace('"', "").split("=")[-1].strip()
    lines = [line for line in core.splitlines() if "-----" not in line]
    body = max(lines or [core], key=len)
    return [body[-10:]] if len(body) >= 10 else [body]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes)
def test_no_secret_survives_anywhere_in_any_shape(shape: Any) -> None:
    recorded = content.to_json(shape, CAPTURE)
    json.loads(recorded)  # still valid JSON
    for secret in PII:
        for piece in _fingerprints(secret):
            assert piece not in recorded, (secret, recorded)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(arguments=st.dictionaries(keys, shapes, min_size=1, max_size=3))
def test_tool_arguments_and_results_leak_no_secret(pipeline: Pipeline,
                                                   arguments: dict[str, Any]) -> None:
    """End to end: a decorated tool's arguments and result, exported as span attributes."""
    from tripwire import decorators

    replace_settings(capture_content=ContentCapture.SPAN_AND_EVENT, content_redaction=REDACT)
    decorators.configure(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    pipeline.clear()

    @tripwire.tool
    def echo(payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    echo(arguments)
    [span] = pipeline.spans()
    exported = json.dumps({k: str(v) for k, v in span.attributes.items()})
    for secret in PII:
        for piece in _fingerprints(secret):
            assert piece not in exported, (secret, exported)
