"""Budgets that hold under concurrency: in enforce mode a call reserves its estimated cost
before it is sent (atomically with the check) and settles to the real cost when its span
ends, so hundreds of calls in flight cannot overshoot a budget by more than the one call that
crosses it. Also: failed and cancelled calls give their reservation back, invalid usage never
credits a budget, and a spent scope is never forgotten to make room.

Real openai SDK against the fake server, real EnrichingSpanProcessor, the in-memory ledger
(the same cases against Redis are in tests/budgets/).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry import baggage, context

import tripwire
from hardening.harness import Pipeline, concurrent_chats
from tripwire import semconv as sc
from tripwire.budgets import BudgetRule
from tripwire.errors import BudgetExceededError
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.runtime import get_runtime, replace_settings
from tripwire.settings import BudgetMode
from tripwire.testing import FakeOpenAIServer, chat_reply, server_error

MODEL = "gpt-4o-mini"  # $0.15 / $0.60 per million tokens
PROMPT_WORDS = 1000  # " w" is one token, and the fake server counts words: estimate == usage
OUTPUT_TOKENS = 700
CALL_USD = (PROMPT_WORDS * 0.15 + OUTPUT_TOKENS * 0.60) / 1e6  # $0.00057
MESSAGES = [{"role": "user", "content": " ".join(["w"] * PROMPT_WORDS)}]
CONVERSATION = BudgetRule("per-conversation", "conversation")
USER = BudgetRule("per-user", "user")


def _budgets(tmp_path: Path, **limits: float) -> str:
    rules = [{"name": "per-conversation", "scope": "conversation", "usd": limits["conversation"]}]
    if "user" in limits:
        rules.append({"name": "per-user", "scope": "user", "usd": limits["user"]})
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": rules}))
    return str(path)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
def enforced(pipeline: Pipeline) -> Iterator[Pipeline]:
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    yield pipeline
    inst.uninstrument()


def _enqueue(server: FakeOpenAIServer, n: int, delay: float = 0.0, **usage: int) -> None:
    prompt = usage.get("prompt", PROMPT_WORDS)
    for _ in range(n):
        server.enqueue(chat_reply("ok", usage=(prompt, usage.get("completion", OUTPUT_TOKENS)),
                                  delay=delay))


def _in(conversation: str, user: str | None = None) -> context.Context:
    ctx = baggage.set_baggage(sc.GEN_AI_CONVERSATION_ID, conversation)
    if user is not None:
        ctx = baggage.set_baggage(sc.USER_ID, user, ctx)
    return ctx


def _spent(rule: BudgetRule, key: str) -> float:
    return get_runtime().ledger.spent((rule, key))[0]


def test_500_concurrent_async_calls_stop_at_the_budget(enforced: Pipeline, server, tmp_path,
                                                        record_property) -> None:
    limit = 0.05
    replace_settings(budgets_file=_budgets(tmp_path, conversation=limit),
                     budget_mode=BudgetMode.ENFORCE)
    _enqueue(server, 500, delay=0.05)  # every call still in flight when the next one starts
    sent, refused = asyncio.run(concurrent_chats(server, 500, "conv-1", MESSAGES, OUTPUT_TOKENS))
    spent = _spent(CONVERSATION, "conv-1")
    record_property("overshoot_ratio", spent / limit)
    assert len(server.requests) == sent
    assert refused >= 400  # ~88 calls fit in $0.05
    assert spent <= limit + CALL_USD * 1.001  # at most the one call that crossed
    assert spent == pytest.approx(sent * CALL_USD)  # every sent call charged, once
    assert spent >= limit - CALL_USD  # and the budget was used, not refused early
    assert get_runtime().ledger.pinned >= 1  # over its limit: never evicted


def test_32_threads_stop_at_the_budget(enforced: Pipeline, server, tmp_path,
                                       record_property) -> None:
    limit = 0.02
    replace_settings(budgets_file=_budgets(tmp_path, conversation=limit),
                     budget_mode=BudgetMode.ENFORCE)
    _enqueue(server, 32 * 10, delay=0.01)
    client = server.client()
    sent = [0] * 32

    def worker(i: int) -> None:
        token = context.attach(_in("conv-1"))
        try:
            for _ in range(10):
                try:
                    client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                   max_tokens=OUTPUT_TOKENS)
                    sent[i] += 1
                except BudgetExceededError:
                    return
        finally:
            context.detach(token)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = _spent(CONVERSATION, "conv-1")
    record_property("overshoot_ratio", spent / limit)
    assert sum(sent) == len(server.requests)
    assert spent <= limit + CALL_USD * 1.001
    assert spent == pytest.approx(sum(sent) * CALL_USD)


def test_a_call_costing_more_than_the_budget_is_the_only_one_sent(enforced: Pipeline, server,
                                                                  tmp_path) -> None:
    limit = CALL_USD / 4
    replace_settings(budgets_file=_budgets(tmp_path, conversation=limit),
                     budget_mode=BudgetMode.ENFORCE)
    _enqueue(server, 50, delay=0.05)
    sent, refused = asyncio.run(concurrent_chats(server, 50, "conv-1", MESSAGES, OUTPUT_TOKENS))
    assert (sent, refused) == (1, 49)
    assert _spent(CONVERSATION, "conv-1") == pytest.approx(CALL_USD)


def test_a_failed_call_gives_its_reservation_back(enforced: Pipeline, server, tmp_path) -> None:
    # Room for one call's estimate only: a failure that kept its reservation would refuse
    # every call after it.
    replace_settings(budgets_file=_budgets(tmp_path, conversation=CALL_USD * 1.5),
                     budget_mode=BudgetMode.ENFORCE)
    client = server.client()
    token = context.attach(_in("conv-1"))
    try:
        for _ in range(3):
            server.enqueue(server_error())
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                               max_tokens=OUTPUT_TOKENS)
        _enqueue(server, 1)
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=OUTPUT_TOKENS)
    finally:
        context.detach(token)
    assert _spent(CONVERSATION, "conv-1") == pytest.approx(CALL_USD)
    assert get_runtime().ledger.pinned == 0  # no reservation left behind


def test_a_cancelled_call_gives_its_reservation_back(enforced: Pipeline, server,
                                                     tmp_path) -> None:
    replace_settings(budgets_file=_budgets(tmp_path, conversation=CALL_USD * 1.5),
                     budget_mode=BudgetMode.ENFORCE)

    async def run() -> None:
        client = server.async_client()
        token = context.attach(_in("conv-1"))
        try:
            _enqueue(server, 1, delay=2.0)
            task = asyncio.create_task(client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=OUTPUT_TOKENS))
            await asyncio.sleep(0.2)  # sent, waiting for the answer
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            _enqueue(server, 1)
            await client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                 max_tokens=OUTPUT_TOKENS)
        finally:
            context.detach(token)
            await client.close()

    asyncio.run(run())
    assert _spent(CONVERSATION, "conv-1") == pytest.approx(CALL_USD)
    assert get_runtime().ledger.pinned == 0


def test_a_stream_settles_when_it_ends(enforced: Pipeline, server, tmp_path) -> None:
    replace_settings(budgets_file=_budgets(tmp_path, conversation=1.0),
                     budget_mode=BudgetMode.ENFORCE)
    client = server.client()
    token = context.attach(_in("conv-1"))
    try:
        _enqueue(server, 1)
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                max_tokens=OUTPUT_TOKENS,
                                                stream_options={"include_usage": True})
        assert get_runtime().ledger.pinned == 1  # reserved while the stream is open
        assert _spent(CONVERSATION, "conv-1") == 0
        for _ in stream:
            pass
    finally:
        context.detach(token)
    assert _spent(CONVERSATION, "conv-1") == pytest.approx(CALL_USD)
    assert get_runtime().ledger.pinned == 0


def test_negative_usage_never_credits_a_budget(enforced: Pipeline, server) -> None:
    replace_settings(budget_mode=BudgetMode.ENFORCE)
    client = server.client()
    with tripwire.budget(tokens=1000) as run:
        for _ in range(3):
            server.enqueue(chat_reply("ok", usage=(-1_000_000, 5)))
            client.chat.completions.create(model=MODEL, messages=MESSAGES[:1], max_tokens=5)
    assert run.spent_tokens == 15  # the output tokens only: nothing credited
    spans = [s for s in enforced.spans() if s.name == f"chat {MODEL}"]
    assert len(spans) == 3
    for span in spans:
        assert span.attributes[sc.TRIPWIRE_USAGE_INVALID] is True
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
        assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


@pytest.mark.parametrize("value", [-5, 2**63, 1.5, float("nan"), True, "12"])
def test_invalid_usage_on_a_foreign_span_is_ignored_and_flagged(pipeline: Pipeline,
                                                                value: Any) -> None:
    tracer = pipeline.provider.get_tracer("foreign")
    attributes = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai",
                  sc.GEN_AI_REQUEST_MODEL: MODEL, sc.GEN_AI_USAGE_INPUT_TOKENS: value,
                  sc.GEN_AI_USAGE_OUTPUT_TOKENS: 7}
    with tripwire.budget(tokens=10_000) as run, tracer.start_as_current_span(
            f"chat {MODEL}", attributes=attributes):
        pass
    [span] = [s for s in pipeline.spans() if s.name == f"chat {MODEL}"]
    assert span.attributes[sc.TRIPWIRE_USAGE_INVALID] is True
    assert run.spent_tokens == 7
    assert span.attributes[sc.TRIPWIRE_COST_USD] == pytest.approx(7 * 0.60 / 1e6)


def test_a_spent_scope_is_not_forgotten_to_make_room(enforced: Pipeline, server,
                                                     tmp_path) -> None:
    replace_settings(budgets_file=_budgets(tmp_path, conversation=100.0, user=CALL_USD / 2),
                     budget_mode=BudgetMode.ENFORCE, state_max_entries=100)
    client = server.client()

    def call(user: str) -> None:
        token = context.attach(_in(f"conv-{user}", user))
        try:
            _enqueue(server, 1)
            client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                           max_tokens=OUTPUT_TOKENS)
        finally:
            context.detach(token)

    call("alice")  # crosses her budget
    with pytest.raises(BudgetExceededError):
        call("alice")
    for i in range(300):  # three times the table bound: each of them crosses their budget too,
        call(f"user-{i}")  # and the conversations' LRU table is overrun three times
    with pytest.raises(BudgetExceededError) as refused:
        call("alice")
    assert refused.value.budget == "per-user"
    ledger = get_runtime().ledger
    assert ledger.pinned == 301  # every user over the limit is kept (documented bound)
