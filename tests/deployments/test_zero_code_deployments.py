"""``opentelemetry-instrument`` as deployed (issue 14): the official openai-v2 instrumentor
installed beside ours (``opentelemetry-bootstrap`` installs it), and head samplers. Real
subprocesses, the real openai SDK against the fake server, OTLP/HTTP to a local receiver."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from processors.otlp_receiver import OTLPReceiver
from test_zero_code import _env, _instrument_command
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

pytest.importorskip("opentelemetry.instrumentation.openai_v2",
                    reason="needs opentelemetry-instrumentation-openai-v2 (test extra)")

APP = textwrap.dedent("""
    import os, openai
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="k", max_retries=0)
    tracer = trace.get_tracer("app")
    for _ in range(int(os.environ["CALLS"])):
        with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "hi"}])
""")
USAGES = [(1000 + 91 * i, 10 + 7 * i) for i in range(10)]


def _expected(usages: list[tuple[int, int]]) -> float:
    return sum(float(calc_price(Usage(input_tokens=i, output_tokens=o),
                                "gpt-4o-mini-2024-07-18", provider_id="openai").total_price)
               for i, o in usages)


def _run(tmp_path: Path, receiver: OTLPReceiver, server: FakeOpenAIServer, calls: int,
         **extra: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = _env(receiver.endpoint, FAKE_OPENAI_URL=server.base_url, CALLS=str(calls), **extra)
    done = subprocess.run([*_instrument_command(), sys.executable, str(app)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done


def _chat_spans(receiver: OTLPReceiver) -> list[dict]:
    return [s for s in receiver.spans if s["name"].startswith("chat ")]


@pytest.mark.parametrize("preferred", ["tripwire", "other"])
def test_with_the_official_instrumentor_installed_each_call_is_one_span_and_one_charge(
        tmp_path: Path, preferred: str) -> None:
    with OTLPReceiver() as receiver, FakeOpenAIServer() as server:
        server.enqueue(*(chat_reply(content="ok", usage=u) for u in USAGES[:3]))
        _run(tmp_path, receiver, server, 3, TRIPWIRE_PREFERRED_INSTRUMENTOR=preferred)
        assert receiver.got_spans.wait(10)
    chats = _chat_spans(receiver)
    assert len(chats) == 3, [(s["name"], s["scope"]) for s in chats]
    scopes = {s["scope"] for s in chats}
    if preferred == "tripwire":
        assert scopes == {"tripwire.instrumentation.openai"}
    else:  # the official spans are kept (written through util-genai), enriched
        assert len(scopes) == 1 and scopes.pop().startswith("opentelemetry.")
    expected = _expected(USAGES[:3])
    assert sum(s["attributes"]["tripwire.cost.usd"] for s in chats) == pytest.approx(expected)
    assert receiver.metric_sum("tripwire.cost") == pytest.approx(expected)
    roots = [s for s in receiver.spans if s["name"] == "POST /ask"]
    assert [r["attributes"]["tripwire.trace.llm_calls"] for r in roots] == [1, 1, 1]


@pytest.mark.parametrize("sampler,arg", [("always_off", ""), ("traceidratio", "0"),
                                         ("parentbased_traceidratio", "0.1")])
def test_head_sampling_keeps_cost_exact_and_exports_what_the_sampler_keeps(
        tmp_path: Path, sampler: str, arg: str) -> None:
    with OTLPReceiver() as receiver, FakeOpenAIServer() as server:
        server.enqueue(*(chat_reply(content="ok", usage=u) for u in USAGES))
        _run(tmp_path, receiver, server, len(USAGES), OTEL_TRACES_SAMPLER=sampler,
             OTEL_TRACES_SAMPLER_ARG=arg)
        assert receiver.got_metrics.wait(10)
    assert len(_chat_spans(receiver)) < len(USAGES)  # exports follow the sampler
    assert receiver.metric_sum("tripwire.cost") == pytest.approx(_expected(USAGES))


def test_a_tiny_trace_budget_trips_in_enforce_mode_under_always_off(tmp_path: Path) -> None:
    """The issue's case: a trace budget in enforce mode with traceidratio 0 never tripped."""
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""
        import os, openai, tripwire
        from opentelemetry import trace
        client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="k",
                               max_retries=0)
        with trace.get_tracer("app").start_as_current_span("POST /agent"):
            for n in range(5):
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                except tripwire.BudgetExceededError as exc:
                    print("refused call", n, exc.budget)
                    break
    """))
    with OTLPReceiver() as receiver, FakeOpenAIServer() as server:
        server.enqueue(*(chat_reply(content="ok", usage=(1000, 100)) for _ in range(5)))
        env = _env(receiver.endpoint, FAKE_OPENAI_URL=server.base_url,
                   OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0",
                   TRIPWIRE_BUDGET_MODE="enforce", TRIPWIRE_BUDGET_OUTPUT_ESTIMATE="1",
                   TRIPWIRE_BUDGET_TRACE_USD=str(_expected([(1000, 100)]) * 1.5))
        done = subprocess.run([*_instrument_command(), sys.executable, str(app)], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "refused call 2 trace" in done.stdout, done.stdout + done.stderr
