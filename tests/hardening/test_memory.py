"""Memory: a long run of distinct traces, conversations, users, models and tool calls keeps
every process-wide table bounded in size and in age.

Tables (found with ``grep -rn "lru_cache\\|_cache\\|BoundedTable\\|= {}" src/tripwire``):
the cross-span state (``processors/state.py``: traces, processed, drift, accounts,
span_blocks), each trace's tool-call counts (the tool-loop table), the price caches
(``PriceBook._cache``, ``_flat_cache``, ``_books``), the budget-rules cache, the failure log,
the pre-call checks, the signature / regex caches and the OpenAI client-info cache.

The workload is mostly "foreign" spans with GenAI attributes (the enrichers work on any
span, and this keeps a long run fast), plus real SDK calls through each instrumentor.
``pytest -m soak tests/hardening/test_memory.py -s`` runs the long variant with the default
bounds and prints the numbers recorded in ``docs/reliability.md``.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

import tripwire
from hardening.harness import ANSWER, LLMEnv, Pipeline, make_pipeline
from tripwire import _compat, semconv
from tripwire._core import arguments, guard, redaction, tools
from tripwire.budgets import BudgetRule
from tripwire.processors import drift, prices, state
from tripwire.runtime import get_runtime, replace_settings, reset

BOUND = 200  # state_max_entries in the moderate test
TTL = 600.0
N = 2000  # distinct traces in the moderate test (10 x the bound)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(state, "_clock", fake)
    return fake


@pytest.fixture
def budgets_file(tmp_path: Path) -> str:
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets:\n"
                    "  - name: per-conversation\n    scope: conversation\n    usd: 100\n"
                    "  - name: per-user-hourly\n    scope: user\n    window: hour\n    usd: 100\n")
    return str(path)


def table_sizes() -> dict[str, int]:
    from tripwire.instrumentation.openai import common as openai_common

    rt = get_runtime()
    st = rt.state
    sizes = {name: len(getattr(st, name))
             for name in ("traces", "processed", "drift", "span_blocks")}
    # Accounts with spending inside a live rolling window are pinned (budget state is not a
    # cache): bounded by the scopes active within the window, not by state_max_entries.
    pinned = rt.ledger.pinned  # type: ignore[attr-defined]
    sizes["accounts"] = len(rt.ledger) - pinned  # type: ignore[arg-type]
    sizes["pinned_accounts"] = pinned
    books = list(rt._price_books.values())
    sizes["tool_calls_per_trace"] = max(
        (len(item[1].tool_calls) for item in list(st.traces._data.values())), default=0)
    sizes["price_books"] = len(books)
    sizes["price_cache"] = sum(len(book._cache) for book in books)
    sizes["price_pairs"] = sum(len(getattr(book, "_pairs", ())) for book in books)
    sizes["flat_price_cache"] = len(prices._flat_cache)
    snapshot = _compat.genai_prices_snapshot()
    sizes["genai_prices_memos"] = max(len(getattr(snapshot, name, ()))
                                      for name in _compat.GENAI_PRICES_MEMOS)
    sizes["alias_cache"] = drift.is_floating_alias.cache_info().currsize
    sizes["prompt_hashes"] = tools._cached_digest.cache_info().currsize
    sizes["budget_rules_cache"] = 0 if rt._rules is None else 1
    sizes["failure_log"] = len(guard._seen)
    sizes["budget_gate_owners"] = len(rt._gate_owners)
    sizes["regex_cache"] = redaction._compiled.cache_info().currsize
    sizes["signature_cache"] = arguments._signature.cache_info().currsize
    sizes["openai_client_info"] = len(openai_common.client_info)
    sizes["processor_instances"] = rt.processor_count
    return sizes


def bounds(max_entries: int) -> dict[str, int]:
    return {
        "traces": max_entries, "processed": min(max_entries, 4096), "drift": max_entries,
        "accounts": max_entries, "span_blocks": max_entries,
        "tool_calls_per_trace": max_entries, "price_books": 2,
        "price_cache": prices._CACHE_SIZE, "flat_price_cache": prices._CACHE_SIZE + 1,
        "price_pairs": prices._CACHE_SIZE, "genai_prices_memos": prices._GENAI_MEMO_LIMIT + 1,
        "alias_cache": 4096, "prompt_hashes": 256,
        "budget_rules_cache": 1, "failure_log": 0, "budget_gate_owners": 8, "regex_cache": 32,
        "signature_cache": 512, "openai_client_info": 8, "processor_instances": 8,
    }


@contextmanager
def _baggage(**values: str) -> Iterator[None]:
    ctx = otel_context.get_current()
    for key, value in values.items():
        ctx = baggage.set_baggage(key, value, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def foreign_traces(pipeline: Pipeline, start: int, count: int, *, clear: bool = True) -> None:
    """``count`` requests, each its own trace, conversation, user, model snapshot and tool
    call; every fourth inside a ``tripwire.budget()`` block."""
    tracer = pipeline.provider.get_tracer("app")
    for i in range(start, start + count):
        with _baggage(**{semconv.GEN_AI_CONVERSATION_ID: f"conv-{i}", semconv.USER_ID: f"u-{i}"}):
            block = tripwire.budget(usd=5.0, name=f"run-{i}") if i % 4 == 0 else None
            if block is not None:
                block.__enter__()
            try:
                with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
                    with tracer.start_as_current_span(f"chat model-{i}", kind=SpanKind.CLIENT,
                                                      attributes={
                            semconv.GEN_AI_OPERATION_NAME: "chat",
                            semconv.GEN_AI_PROVIDER_NAME: "openai",
                            semconv.GEN_AI_REQUEST_MODEL: f"model-{i}",
                            semconv.GEN_AI_RESPONSE_MODEL: f"model-{i}-2025-01-01",
                            semconv.GEN_AI_USAGE_INPUT_TOKENS: 100,
                            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 10}):
                        pass
                    with tracer.start_as_current_span("execute_tool lookup", attributes={
                            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                            semconv.GEN_AI_TOOL_NAME: "lookup",
                            semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH: f"h{i}"}):
                        pass
            finally:
                if block is not None:
                    block.__exit__(None, None, None)
        if clear and i % 500 == 0:
            pipeline.clear()  # the in-memory exporter is not under test


def long_trace(pipeline: Pipeline, tool_calls: int) -> int:
    """One request that never ends while it makes ``tool_calls`` distinct tool calls (an
    agent running for hours); returns the largest per-trace table size seen."""
    tracer = pipeline.provider.get_tracer("app")
    largest = 0
    with tracer.start_as_current_span("agent run") as root:
        trace_id = root.get_span_context().trace_id
        for i in range(tool_calls):
            with tracer.start_as_current_span("execute_tool search", attributes={
                    semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                    semconv.GEN_AI_TOOL_NAME: "search",
                    semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH: f"q{i}"}):
                pass
            record = get_runtime().state.traces.get(trace_id)
            largest = max(largest, len(record.tool_calls) if record else 0)
    pipeline.clear()
    return largest


def real_calls(env: LLMEnv, count: int) -> None:
    """Real SDK calls, each in its own trace with its own conversation and user."""
    client = env.client()
    for i in range(count):
        with _baggage(**{semconv.GEN_AI_CONVERSATION_ID: f"real-{i}", semconv.USER_ID: f"ru-{i}"}):
            env.server.enqueue(env.case.ok(ANSWER))
            assert env.case.call(client) == ANSWER


def _assert_within(sizes: dict[str, int], limits: dict[str, int],
                   before: dict[str, int] | None = None) -> None:
    """Each table within its bound, or — for what earlier tests in this process may have
    left behind (live processors, clients) — no more than two entries above where it was."""
    def limit(key: str) -> int:
        return max(limits[key], (before or {}).get(key, 0) + 2)

    over = {k: (v, limit(k)) for k, v in sizes.items() if k in limits and v > limit(k)}
    assert not over, over


def test_tables_stay_bounded_in_size(llm: LLMEnv, clock: Clock, budgets_file: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prices, "_GENAI_MEMO_LIMIT", BOUND)  # reached at this count
    # From empty memos: what earlier tests looked up (replay: hundreds of models) would
    # otherwise decide where in the fill-and-drop cycle this test ends.
    _compat.bound_genai_prices_memos(_compat.genai_prices_snapshot(), 0)
    replace_settings(state_max_entries=BOUND, state_ttl_seconds=TTL, budgets_file=budgets_file,
                     budget_trace_usd=1.0)
    pipeline = llm.pipeline
    gc.collect()
    before = table_sizes()
    real_calls(llm, 30)
    foreign_traces(pipeline, 0, N)
    real_calls(llm, 30)
    assert len(llm.llm_spans()) > 0
    gc.collect()
    sizes = table_sizes()
    _assert_within(sizes, bounds(BOUND), before)
    # the bounds were reached, so they are what held the tables (not a quiet workload)
    assert sizes["drift"] == BOUND and sizes["accounts"] == BOUND
    assert sizes["pinned_accounts"] > 0 and _only_live_windows_pinned()
    assert sizes["price_cache"] >= BOUND  # span_blocks: released as each span ends
    assert sizes["genai_prices_memos"] > BOUND // 2  # filled, then dropped at the limit
    assert long_trace(pipeline, 3 * BOUND) == BOUND
    # enrichment still works once the tables are full: the newest conversation is charged
    foreign_traces(pipeline, N, 1, clear=False)
    chat = next(s for s in pipeline.spans() if s.name == f"chat model-{N}")
    assert chat.attributes[semconv.TRIPWIRE_COST_UNPRICED] is True  # unknown model, flagged
    assert chat.attributes[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] is True


def test_tables_stay_bounded_in_age(llm: LLMEnv, clock: Clock, budgets_file: str) -> None:
    replace_settings(state_max_entries=BOUND, state_ttl_seconds=TTL, budgets_file=budgets_file)
    real_calls(llm, 5)
    foreign_traces(llm.pipeline, 0, BOUND // 2)
    before = table_sizes()
    assert before["drift"] >= BOUND // 2 and before["accounts"] >= BOUND // 2
    clock.now += TTL + 1
    foreign_traces(llm.pipeline, BOUND, 1)  # any write trims what has expired
    real_calls(llm, 1)
    after = table_sizes()
    for name in ("drift", "accounts", "span_blocks", "processed"):
        assert after[name] <= 6, (name, before[name], after[name])
    # the hourly user budgets are still inside their window: kept, whatever the TTL says
    # (plus the user of the one real call made after the clock moved)
    assert after["pinned_accounts"] == before["pinned_accounts"] + 1 > 1
    assert _only_live_windows_pinned()
    # an expired conversation starts from zero: its old spending is gone with it
    rule = BudgetRule("per-conversation", "conversation")
    assert get_runtime().ledger.spent((rule, "conv-0")) == (0.0, 0)


def _only_live_windows_pinned() -> bool:
    """Every pinned account is one of a rolling-window budget (none is over its limit here)."""
    ledger = get_runtime().ledger
    return all(rule.window_seconds for rule, _ in ledger._pinned.values())  # type: ignore[attr-defined]


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.soak
def test_soak_long_run_memory(clock: Clock) -> None:
    """Default bounds (10 000 entries, 1 h), 100 000 requests; prints the numbers."""
    from tripwire.runtime import set_settings
    from tripwire.settings import Settings

    set_settings(Settings())
    reset()
    set_settings(Settings())
    pipeline = make_pipeline()
    count, step = 100_000, 10_000
    default_max = Settings().state_max_entries
    started = time.perf_counter()
    rows = []
    try:
        for done in range(0, count, step):
            foreign_traces(pipeline, done, step)
            pipeline.clear()
            clock.now += 60  # a minute of simulated time per 10 000 requests
            gc.collect()
            rows.append((done + step, _rss_mib(), table_sizes()))
        longest = long_trace(pipeline, 3 * default_max)
    finally:
        pipeline.provider.shutdown()
    elapsed = time.perf_counter() - started
    print(f"\nsoak: {count} requests ({4 * count} spans) in {elapsed:.1f}s")
    for n, mib, sizes in rows:
        print(f"  after {n:>6}: RSS {mib:6.1f} MiB  " + " ".join(
            f"{k}={v}" for k, v in sizes.items() if v))
    print(f"  one trace with {3 * default_max} distinct tool calls: table max {longest}")
    for _, _, sizes in rows:
        _assert_within(sizes, bounds(default_max))
    assert longest == default_max
    # memory levels off once the tables are full: the second half adds < 10 % (+ 8 MiB)
    half = rows[len(rows) // 2 - 1][1]
    assert rows[-1][1] < half * 1.1 + 8, [round(r[1], 1) for r in rows]
