"""The budget ledger contract, in memory and on a real Redis server, and what only a shared
store has to survive: many processes, a store that dies and comes back, a retried
settlement, a process killed while it holds reservations."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hardening.harness import concurrent_chats
from tripwire import semconv as sc
from tripwire.budgets import BudgetRule
from tripwire.errors import BudgetStoreUnavailableError
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.processors.ledger import BudgetLedger, InMemoryLedger, LedgerUnavailable, Reservation
from tripwire.processors.store import RedisLedger
from tripwire.runtime import get_runtime, replace_settings
from tripwire.settings import BudgetMode, StoreFailure
from tripwire.testing import FakeOpenAIServer, chat_reply
from tripwire.testing.redis_server import LocalRedisServer as RedisServer

USER = BudgetRule("per-user", "user", usd=1.0, tokens=10_000)
CONV = BudgetRule("per-conversation", "conversation", usd=0.5)
HOURLY = BudgetRule("hourly", "global", usd=1.0, window_seconds=3600)


def _redis(server: RedisServer, namespace: str, ttl: float = 900.0) -> RedisLedger:
    return RedisLedger(server.url, namespace=namespace, timeout_ms=200,
                       reservation_ttl_seconds=ttl)


@pytest.fixture(params=["memory", "redis"])
def ledger(request: pytest.FixtureRequest, namespace: str) -> Iterator[BudgetLedger]:
    if request.param == "memory":
        yield InMemoryLedger(1000, 3600)
        return
    server = request.getfixturevalue("redis_server")
    store = _redis(server, namespace)
    yield store
    store.clear()


def _reservation(scopes: Any, usd: float, tokens: int) -> Reservation:
    return Reservation(uuid.uuid4().hex, tuple(scopes), (), usd, tokens)


# --- the contract ----------------------------------------------------------------------------

def test_reserve_counts_until_the_limit_then_refuses(ledger: BudgetLedger) -> None:
    scope = (USER, "alice")
    held = []
    for _ in range(4):
        r = _reservation([scope], 0.3, 10)
        assert ledger.reserve(r.id, r.scopes, r.usd, r.tokens) is None
        held.append(r)
    refused = ledger.reserve("late", [scope], 0.3, 10)
    assert refused is not None and refused.unit == "usd" and refused.exceeded
    assert refused.spent == pytest.approx(1.2) and refused.limit == 1.0
    assert ledger.spent(scope) == (0.0, 0)  # reserved, not spent
    for r in held:
        ledger.release(r)
    assert ledger.reserve("after", [scope], 0.3, 10) is None


def test_a_reservation_is_all_or_nothing(ledger: BudgetLedger) -> None:
    full = _reservation([(CONV, "c1")], 0.5, 1)
    assert ledger.reserve(full.id, full.scopes, full.usd, full.tokens) is None
    refused = ledger.reserve("both", [(USER, "bob"), (CONV, "c1")], 0.1, 1)
    assert refused is not None and refused.rule == CONV
    # bob's scope was not touched: his whole budget is still there
    assert ledger.reserve("bob", [(USER, "bob")], 0.99, 1) is None


def test_settle_replaces_the_reservation_once(ledger: BudgetLedger) -> None:
    scope = (USER, "carol")
    r = _reservation([scope], 0.9, 900)
    assert ledger.reserve(r.id, r.scopes, r.usd, r.tokens) is None
    [spend] = ledger.settle("charge-1", [scope], 0.25, 300, r)
    assert spend.before == (0.0, 0) and spend.after == (pytest.approx(0.25), 300)
    assert ledger.settle("charge-1", [scope], 0.25, 300, r) == []  # a retry: nothing twice
    assert ledger.spent(scope) == (pytest.approx(0.25), 300)
    # the reservation is gone: 0.25 spent, 0.75 left
    assert ledger.reserve("next", [scope], 0.7, 1) is None


def test_a_rolling_window_forgets_old_spending(ledger: BudgetLedger) -> None:
    minute = BudgetRule("fast", "global", usd=1.0, window_seconds=1.2)
    ledger.settle("w1", [(minute, "")], 0.6, 6)
    assert ledger.spent((minute, ""))[0] == pytest.approx(0.6)
    ledger.settle("w2", [(HOURLY, "")], 0.6, 6)
    time.sleep(1.35)
    assert ledger.spent((minute, "")) == (0.0, 0)
    assert ledger.spent((HOURLY, ""))[0] == pytest.approx(0.6)


def test_unknown_scope_has_spent_nothing(ledger: BudgetLedger) -> None:
    assert ledger.spent((USER, "nobody")) == (0.0, 0)


# --- many processes ----------------------------------------------------------------------------

CALL_USD = 0.004
CALL_ESTIMATE = 0.005
LIMIT = 0.5


def _worker(url: str, namespace: str, threads: int, out: Any, estimate: float,
            cost: float) -> None:
    store = RedisLedger(url, namespace=namespace, timeout_ms=2000, reservation_ttl_seconds=60)
    scope = (BudgetRule("shared-user", "user", usd=LIMIT), "u1")
    sent = [0] * threads

    def run(i: int) -> None:
        while True:
            rid = uuid.uuid4().hex
            if store.reserve(rid, [scope], estimate, 100) is not None:
                return
            time.sleep(0.002)  # the call in flight
            r = Reservation(rid, (scope,), (), estimate, 100)
            store.settle(rid, [scope], cost, 90, r)
            sent[i] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(sum(sent))


@pytest.mark.parametrize(("estimate", "cost"), [(CALL_ESTIMATE, CALL_USD),
                                               (CALL_USD, CALL_ESTIMATE)],
                         ids=["estimate-above-cost", "estimate-below-cost"])
def test_8_processes_x_4_threads_spend_one_budget(redis_server: RedisServer, namespace: str,
                                                  record_property: Any, estimate: float,
                                                  cost: float) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(redis_server.url, namespace, 4, out, estimate,
                                               cost))
             for _ in range(8)]
    for p in procs:
        p.start()
    counts = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    store = _redis(redis_server, namespace)
    spent_usd, tokens = store.spent((BudgetRule("shared-user", "user", usd=LIMIT), "u1"))
    record_property("overshoot_ratio", spent_usd / LIMIT)
    record_property("calls", sum(counts))
    print(f"\n8x4 processes x threads, estimate ${estimate} cost ${cost}: {sum(counts)} calls, spent ${spent_usd:.4f} of "
          f"${LIMIT:.2f} = {spent_usd / LIMIT:.4f} x the limit")
    assert spent_usd == pytest.approx(sum(counts) * cost)
    assert tokens == sum(counts) * 90
    # The documented bound: the last admitted call's estimate, plus what each of the 32 calls
    # that may be in flight when the limit is reached costs above its estimate.
    assert spent_usd <= LIMIT + estimate + 32 * max(0.0, cost - estimate) + 1e-9
    if cost <= estimate:
        assert spent_usd <= LIMIT + cost  # at most the one crossing call over the limit
    assert spent_usd >= LIMIT - estimate * 32  # every worker kept spending until full
    store.clear()


def _hold_and_die(url: str, namespace: str) -> None:
    store = RedisLedger(url, namespace=namespace, timeout_ms=2000, reservation_ttl_seconds=1.0)
    store.reserve("doomed", [(USER, "dave")], 1.0, 1)
    os.kill(os.getpid(), signal.SIGKILL)


def test_reservations_of_a_killed_process_expire(redis_server: RedisServer,
                                                 namespace: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_hold_and_die, args=(redis_server.url, namespace))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    store = _redis(redis_server, namespace)
    assert store.reserve("now", [(USER, "dave")], 0.1, 1) is not None  # still held
    time.sleep(1.1)
    assert store.reserve("later", [(USER, "dave")], 0.1, 1) is None  # expired with its owner
    store.clear()


# --- outages -------------------------------------------------------------------------------------

def test_a_dead_store_is_skipped_by_the_breaker(redis_server: RedisServer, namespace: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tripwire")
    store = _redis(redis_server, namespace)
    assert store.reserve("up", [(USER, "erin")], 0.1, 1) is None
    attempts = []
    script = store._reserve

    def counted(**kw: Any) -> Any:
        attempts.append(1)  # each of these reaches the network
        return script(**kw)

    store._reserve = counted  # type: ignore[assignment]
    redis_server.kill()
    try:
        started = time.perf_counter()
        for i in range(100):
            with pytest.raises(LedgerUnavailable):
                store.reserve(f"down-{i}", [(USER, "erin")], 0.1, 1)
        elapsed = time.perf_counter() - started
        assert len(attempts) == 1  # one try reached the network; the breaker held the rest
        assert elapsed < 1.0
        warnings = [r for r in caplog.records if "budget store unreachable" in r.getMessage()]
        assert len(warnings) == 1  # one warning per outage
    finally:
        redis_server.start()
    store._down_until = 0.0  # skip the rest of the breaker window
    assert store.reserve("back", [(USER, "erin")], 0.1, 1) is None
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    store.clear()


def test_after_the_window_one_caller_probes_the_others_skip(redis_server: RedisServer,
                                                            namespace: str) -> None:
    """Half open: a store that hangs costs one timeout per breaker window, not one per
    concurrent caller."""
    store = _redis(redis_server, namespace)
    attempts = []
    script = store._reserve

    def slow(**kw: Any) -> Any:
        attempts.append(1)
        time.sleep(0.1)  # a store that answers slowly, then fails
        return script(**kw)

    store._reserve = slow  # type: ignore[assignment]
    redis_server.kill()
    try:
        with pytest.raises(LedgerUnavailable):
            store.reserve("first", [(USER, "fay")], 0.1, 1)
        store._down_until = time.monotonic() - 0.001  # the breaker window is over
        attempts.clear()
        barrier = threading.Barrier(8)
        failures = []

        def one(i: int) -> None:
            barrier.wait()
            try:
                store.reserve(f"t{i}", [(USER, "fay")], 0.1, 1)
            except LedgerUnavailable:
                failures.append(i)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(failures) == 8
        assert len(attempts) == 1  # the probe; the seven others skipped the store
    finally:
        redis_server.start()


def test_a_reservation_whose_answer_was_lost_is_released_when_the_store_is_back(
        redis_server: RedisServer, namespace: str) -> None:
    """The script ran but the answer timed out: the caller treats the store as down and
    drops the reservation, so the ledger releases it once the store answers again (instead
    of it holding budget for the whole reservation TTL)."""
    import redis as redis_py

    store, other = _redis(redis_server, namespace), _redis(redis_server, namespace)
    script = store._reserve

    def lost_answer(**kw: Any) -> Any:
        script(**kw)
        raise redis_py.TimeoutError("Timeout reading from socket")

    store._reserve = lost_answer  # type: ignore[assignment]
    with pytest.raises(LedgerUnavailable):
        store.reserve("lost", [(USER, "gus")], 1.0, 1)
    store._reserve = script  # type: ignore[assignment]
    assert other.reserve("blocked", [(USER, "gus")], 0.1, 1) is not None  # it was taken
    store._down_until = 0.0  # skip the rest of the breaker window
    assert store.spent((USER, "gus")) == (0.0, 0)  # a successful operation: orphans released
    assert other.reserve("free", [(USER, "gus")], 0.1, 1) is None
    store.clear()


def test_keys_expire_as_documented(redis_server: RedisServer, namespace: str) -> None:
    import redis as redis_py

    from tripwire.processors.store import MAX_UNITS, NANO, TRACE_ACCOUNT_TTL_SECONDS

    long_lived, short_lived = _redis(redis_server, namespace), _redis(redis_server, namespace, 1)
    raw = redis_py.Redis.from_url(redis_server.url)
    per_trace = BudgetRule("trace", "trace", usd=1.0)
    long_lived.settle("t1", [(per_trace, "abc"), (USER, "hal")], 0.1, 10)
    trace_ttl = raw.pttl(f"{namespace}:a:trace\x1fabc")
    assert 0 < trace_ttl <= TRACE_ACCOUNT_TTL_SECONDS * 1000  # ends with its request
    assert raw.pttl(f"{namespace}:a:per-user\x1fhal") == -1  # cumulative: never
    # a process with a shorter reservation TTL never cuts the others' reservations short
    assert long_lived.reserve("long", [(USER, "hal")], 0.1, 1) is None
    assert short_lived.reserve("short", [(USER, "hal")], 0.1, 1) is None
    assert raw.pttl(f"{namespace}:r:per-user\x1fhal") > 800_000
    # an absurd amount is capped, not an error that would trip the breaker
    assert long_lived.settle("huge", [(USER, "ida")], 1e15, 10**30)
    assert long_lived.spent((USER, "ida")) == (MAX_UNITS / NANO, MAX_UNITS)
    raw.close()
    long_lived.clear()


@pytest.fixture
def instrumented(redis_server: RedisServer, namespace: str,
                 tmp_path: Path) -> Iterator[tuple[FakeOpenAIServer, InMemorySpanExporter]]:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": [
        {"name": "per-conversation", "scope": "conversation", "usd": 0.05}]}))
    replace_settings(budget_mode=BudgetMode.ENFORCE, budgets_file=str(path),
                     budget_store=redis_server.url, budget_store_namespace=namespace,
                     budget_store_timeout_ms=200.0)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter)))
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    with FakeOpenAIServer() as server:
        yield server, exporter
    inst.uninstrument()
    provider.shutdown()
    try:
        get_runtime().ledger.clear()
    except LedgerUnavailable:
        pass


PROMPT = [{"role": "user", "content": " ".join(["w"] * 1000)}]
CALL = (1000 * 0.15 + 700 * 0.60) / 1e6  # gpt-4o-mini, 1000 in + 700 out


def test_200_concurrent_calls_through_redis_stop_at_the_budget(instrumented: Any,
                                                                record_property: Any) -> None:
    server, _ = instrumented
    for _ in range(200):
        server.enqueue(chat_reply("ok", usage=(1000, 700), delay=0.05))

    _, refused = asyncio.run(concurrent_chats(server, 200, "c-1", PROMPT, 700))
    assert isinstance(get_runtime().ledger, RedisLedger)
    spent = get_runtime().ledger.spent((CONV, "c-1"))[0]
    record_property("overshoot_ratio", spent / 0.05)
    print(f"\n200 async calls: {200 - refused} sent, {spent / 0.05:.4f} x the limit")
    assert len(server.requests) == 200 - refused
    assert spent == pytest.approx((200 - refused) * CALL)
    assert spent <= 0.05 + CALL * 1.001


@pytest.mark.parametrize("mode", [StoreFailure.OPEN, StoreFailure.CLOSED])
def test_store_killed_and_restarted_mid_run(instrumented: Any, redis_server: RedisServer,
                                            mode: StoreFailure,
                                            caplog: pytest.LogCaptureFixture) -> None:
    server, exporter = instrumented
    replace_settings(budget_store_failure=mode)
    client = server.client()
    token = context.attach(baggage.set_baggage(sc.GEN_AI_CONVERSATION_ID, "c-2"))
    try:
        def call() -> None:
            server.enqueue(chat_reply("ok", usage=(1000, 700)))
            client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, max_tokens=700)

        call()
        redis_server.kill()
        if mode is StoreFailure.OPEN:
            call()  # goes ahead, flagged
            span = exporter.get_finished_spans()[-1]
            assert span.attributes[sc.TRIPWIRE_BUDGET_STORE_UNAVAILABLE] is True
        else:
            with pytest.raises(BudgetStoreUnavailableError):
                call()
        assert len([r for r in caplog.records if r.levelno == logging.WARNING
                    and "budget store unreachable" in r.getMessage()]) == 1
        redis_server.start()
        get_runtime().ledger._down_until = 0.0  # type: ignore[attr-defined]
        call()  # back: reserved and settled in the store again
        span = exporter.get_finished_spans()[-1]
        assert sc.TRIPWIRE_BUDGET_STORE_UNAVAILABLE not in span.attributes
    finally:
        context.detach(token)
    # the store restarted empty (no persistence): only the call after the restart is in it
    assert get_runtime().ledger.spent((CONV, "c-2"))[0] == pytest.approx(CALL)


def test_a_store_url_without_redis_py_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caught when the settings are read, not at the first call (where it would break the
    enrichment of every span)."""
    import importlib.util

    from tripwire.errors import ConfigError
    from tripwire.settings import load_settings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "redis" else real(name, *a))
    with pytest.raises(ConfigError, match=r"TRIPWIRE_BUDGET_STORE.*tripwire-otel\[redis\]"):
        load_settings({"TRIPWIRE_BUDGET_STORE": "redis://127.0.0.1:6379/0"})
    errors: list[ConfigError] = []
    assert load_settings({"TRIPWIRE_BUDGET_STORE": "redis://127.0.0.1:6379/0"},
                         strict=False, errors=errors).budget_store is None
    assert len(errors) == 1
