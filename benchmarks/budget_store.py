"""What the budget gate adds to a call in enforce mode: one reservation before it is sent and
one settlement when its span ends, with the in-process ledger and with the Redis store on
loopback (Debian's redis-server, started here; skipped with a note when it is missing).

Measured per cycle (``Runtime.before_call`` + ``ledger.settle``) on a runtime of its own:
wall time p50 / p99 and the process CPU time, against flag mode (no reservation at all)."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from opentelemetry import baggage

from tripwire._core.precall import PreCallInfo
from tripwire.processors.ledger import LedgerUnavailable
from tripwire.runtime import Runtime
from tripwire.settings import BudgetMode, Settings
from tripwire.testing.redis_server import LocalRedisServer

PROMPT = " ".join(["w"] * 200)


class _Owner:
    """Stands for an enrichment processor with a budget enricher (the gate's owner)."""


_OWNERS: list[_Owner] = []  # kept alive for the run: the runtime holds owners weakly


def _runtime(settings: Settings) -> Runtime:
    runtime = Runtime(settings)
    owner = _Owner()
    _OWNERS.append(owner)
    runtime.attach(owner, budget_gate=True)
    return runtime


def _cycles(runtime: Runtime, n: int) -> dict[str, Any]:
    ctx = baggage.set_baggage("gen_ai.conversation.id", "bench-conversation")
    info = PreCallInfo("chat", "openai", "gpt-4o-mini", ctx, lambda: PROMPT, 100)
    walls: list[float] = []
    cpu_start = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        reservation = runtime.before_call(info)
        if reservation is not None:
            try:  # as the budget enricher does: a store that is down flags, never raises
                runtime.ledger.settle(uuid.uuid4().hex, reservation.scopes, 0.00001, 300,
                                      reservation)
            except LedgerUnavailable:
                pass
        walls.append((time.perf_counter() - start) * 1e6)
    cpu = (time.process_time() - cpu_start) * 1e6 / n
    walls.sort()
    return {"p50_us": round(walls[n // 2], 1), "p99_us": round(walls[int(n * 0.99)], 1),
            "cpu_us": round(cpu, 1)}


def run_budget_store(cycles: int) -> dict[str, Any]:
    budgets = Path(tempfile.mkdtemp()) / "budgets.json"
    budgets.write_text(json.dumps({"budgets": [
        {"name": "per-conversation", "scope": "conversation", "usd": 1e9}]}))
    enforce = Settings(budget_mode=BudgetMode.ENFORCE, budgets_file=str(budgets))
    result: dict[str, Any] = {
        "flag": _cycles(_runtime(Settings(budgets_file=str(budgets))), cycles),
        "memory": _cycles(_runtime(enforce), cycles),
    }
    try:
        server = LocalRedisServer().start()
    except (FileNotFoundError, RuntimeError) as exc:
        result["redis"] = {"skipped": str(exc)}
        return result
    try:
        store = Settings(budget_mode=BudgetMode.ENFORCE, budgets_file=str(budgets),
                         budget_store=server.url, budget_store_namespace="bench")
        runtime = _runtime(store)
        _cycles(runtime, min(cycles, 200))  # warm-up: connection, script load
        result["redis"] = _cycles(runtime, cycles)
        # A dead store (open mode): the first failure trips the breaker; then the calls skip
        # the store, with one probe (connection refused at once on loopback) per 2 s window.
        server.kill()
        result["redis_down"] = _cycles(runtime, cycles)
    finally:
        server.stop()
    return result


def print_budget_store(result: dict[str, Any]) -> None:
    print("\n== budget gate per call (reserve before + settle after), µs")
    print(f"{'ledger':<28}{'p50':>10}{'p99':>10}{'CPU':>10}")
    labels = {"flag": "flag mode (no reservation)", "memory": "enforce, in memory",
              "redis": "enforce, Redis on loopback",
              "redis_down": "enforce, Redis down (open)"}
    for key, label in labels.items():
        row = result.get(key, {})
        if "skipped" in row:
            print(f"{label:<28}  skipped: {row['skipped']}")
            continue
        print(f"{label:<28}{row['p50_us']:>10.1f}{row['p99_us']:>10.1f}{row['cpu_us']:>10.1f}")
