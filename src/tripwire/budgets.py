"""Budgets: the ``tripwire.budget()`` block API, budget rules and the budgets file.

Scopes: ``trace`` (one request; ``TRIPWIRE_BUDGET_TRACE_USD`` / ``_TOKENS``), ``agent`` (one
agent or workflow run: each open ``invoke_agent`` / ``invoke_workflow`` span a call runs inside,
nested runs included; ``TRIPWIRE_BUDGET_AGENT_RUN_USD``), ``conversation``
(``gen_ai.conversation.id``), ``user`` (``user.id`` / ``enduser.id`` attribute or baggage),
``feature`` (``tripwire.feature``: baggage, the local root's ``http.route`` or the setting),
``global`` (the whole process), each optionally over a rolling ``window`` (minute, hour, day),
and ``block`` for :func:`budget`. Limits are in USD, in tokens (input + output), or both.

The spending is recorded by the budget enricher of ``EnrichingSpanProcessor`` when each LLM
span ends; in ``enforce`` mode instrumentors check the scope before each call.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tripwire.errors import ConfigError
from tripwire.settings import read_settings_file

SCOPES = ("trace", "agent", "conversation", "user", "feature", "global")
# Scopes whose accounts end with their run (a request, an agent run): never pinned in memory,
# and given an expiry in a shared store, since one account per run would pile up for ever.
RUN_SCOPES = frozenset({"trace", "agent"})
WINDOWS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
_BUCKETS = 60
_clock = time.monotonic


@dataclass(frozen=True)
class BudgetRule:
    """One limit on one scope; ``window_seconds`` None means cumulative."""

    name: str
    scope: str
    usd: float | None = None
    tokens: int | None = None
    window_seconds: float | None = None


class Account:
    """Spending of one scope: cumulative, or over a rolling window in 60 time buckets; plus
    what calls in flight have reserved (``enforce`` mode), by reservation id."""

    __slots__ = ("_buckets", "_lock", "_reserved", "_tokens", "_usd", "window")

    def __init__(self, window_seconds: float | None = None) -> None:
        self.window = window_seconds
        self._usd = 0.0
        self._tokens = 0
        self._buckets: dict[int, list[float]] = {}
        self._reserved: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _bucket(self, now: float) -> int:
        assert self.window is not None
        return int(now // (self.window / _BUCKETS))

    def _prune(self, now: float) -> None:
        oldest = self._bucket(now) - _BUCKETS + 1
        for index in [i for i in self._buckets if i < oldest]:
            del self._buckets[index]

    def _spent(self) -> tuple[float, int]:
        if self.window is None:
            return self._usd, self._tokens
        self._prune(_clock())
        return (sum(b[0] for b in self._buckets.values()),
                int(sum(b[1] for b in self._buckets.values())))

    def spent(self) -> tuple[float, int]:
        with self._lock:
            return self._spent()

    def committed(self) -> tuple[float, int]:
        """Spent plus reserved by calls in flight."""
        with self._lock:
            usd, tokens = self._spent()
            for r_usd, r_tokens in self._reserved.values():
                usd += r_usd
                tokens += r_tokens
            return usd, tokens

    def add(self, usd: float, tokens: int) -> tuple[tuple[float, int], tuple[float, int]]:
        """Record spending; returns (before, after) as (usd, tokens)."""
        with self._lock:
            return self._add(usd, tokens)

    def _add(self, usd: float, tokens: int) -> tuple[tuple[float, int], tuple[float, int]]:
        if self.window is None:
            before = (self._usd, self._tokens)
            self._usd += usd
            self._tokens += tokens
            return before, (self._usd, self._tokens)
        now = _clock()
        self._prune(now)
        b_usd = sum(b[0] for b in self._buckets.values())
        b_tok = int(sum(b[1] for b in self._buckets.values()))
        bucket = self._buckets.setdefault(self._bucket(now), [0.0, 0.0])
        bucket[0] += usd
        bucket[1] += tokens
        return (b_usd, b_tok), (b_usd + usd, b_tok + tokens)

    def reserve(self, reservation_id: str, usd: float, tokens: int) -> None:
        with self._lock:
            self._reserved[reservation_id] = (usd, tokens)

    def release(self, reservation_id: str) -> bool:
        """Drop a reservation; False when it was already settled or released."""
        with self._lock:
            return self._reserved.pop(reservation_id, None) is not None

    def settle(self, reservation_id: str | None, usd: float,
               tokens: int) -> tuple[tuple[float, int], tuple[float, int]]:
        """Drop the reservation (if any) and record the real spending, in one step."""
        with self._lock:
            if reservation_id is not None:
                self._reserved.pop(reservation_id, None)
            return self._add(usd, tokens)

    @property
    def live(self) -> bool:
        """Whether forgetting this account would forget something: a reservation in flight,
        or spending inside a rolling window."""
        with self._lock:
            if self._reserved:
                return True
            if self.window is None:
                return False
            self._prune(_clock())
            return bool(self._buckets)


class BudgetBlock:
    """A budget for a block of code (one agent run); see :func:`budget`."""

    def __init__(self, name: str, usd: float | None, tokens: int | None) -> None:
        self.rule = BudgetRule(name=name, scope="block", usd=usd, tokens=tokens)
        self.account = Account()

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def spent_usd(self) -> float:
        return self.account.spent()[0]

    @property
    def spent_tokens(self) -> int:
        return self.account.spent()[1]

    @property
    def exceeded(self) -> bool:
        usd, tokens = self.account.spent()
        return (self.rule.usd is not None and usd >= self.rule.usd) or (
            self.rule.tokens is not None and tokens >= self.rule.tokens
        )

    def __repr__(self) -> str:
        usd, tokens = self.account.spent()
        return (f"BudgetBlock(name={self.name!r}, usd={self.rule.usd}, tokens={self.rule.tokens},"
                f" spent_usd={usd:.6f}, spent_tokens={tokens})")


_blocks: contextvars.ContextVar[tuple[BudgetBlock, ...]] = contextvars.ContextVar(
    "tripwire_budget_blocks", default=()
)


def _positive(value: Any, what: str, setting: str, integer: bool = False) -> Any:
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value == float("inf"):
        raise ConfigError(setting, value, f"{what}: a positive {'integer' if integer else 'number'}")
    return int(value) if integer else float(value)


@contextmanager
def budget(usd: float | None = None, tokens: int | None = None,
           name: str = "block") -> Iterator[BudgetBlock]:
    """Set a budget (USD and/or tokens) for the LLM calls made inside the block.

    Nested blocks all count each call. In ``flag`` mode crossing the limit marks the span
    (``tripwire.budget.exceeded``), adds an event and counts ``tripwire.budget.violations``;
    in ``enforce`` mode the next call inside the block raises ``BudgetExceededError``::

        with tripwire.budget(usd=0.50, name="agent-run") as run:
            agent.run()
        print(run.spent_usd)
    """
    usd = _positive(usd, "usd", "budget(usd=...)")
    tokens = _positive(tokens, "tokens", "budget(tokens=...)", integer=True)
    if usd is None and tokens is None:
        raise ConfigError("budget()", None, "usd=<USD> and/or tokens=<count>")
    if not isinstance(name, str) or not name:
        raise ConfigError("budget(name=...)", name, "a non-empty string")
    block = BudgetBlock(name, usd, tokens)
    token = _blocks.set((*_blocks.get(), block))
    try:
        yield block
    finally:
        _blocks.reset(token)


def active_blocks() -> tuple[BudgetBlock, ...]:
    """The budget blocks active in the current context, outermost first."""
    return _blocks.get()


# --- budgets file -------------------------------------------------------------------------


def parse_budgets(data: Any, where: str = "TRIPWIRE_BUDGETS_FILE") -> tuple[BudgetRule, ...]:
    """Validate the budgets document::

        budgets:
          - name: per-conversation
            scope: conversation        # trace | agent | conversation | user | feature | global
            usd: 1.00                  # and/or tokens: 200000
          - name: openai-hourly
            scope: global
            window: hour               # minute | hour | day: rolling window
            usd: 20
          - name: per-agent-run
            scope: agent               # every agent / workflow run, keyed by the run's span
            usd: 0.50                  # (its account is named by gen_ai.agent.name)
    """
    items = data.get("budgets") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(where, type(data).__name__, 'a mapping with a "budgets" list')
    rules: list[BudgetRule] = []
    names: set[str] = set()
    for index, raw in enumerate(items):
        item = f"{where} budgets[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(item, raw, "a mapping with name, scope, usd and/or tokens")
        unknown = set(raw) - {"name", "scope", "usd", "tokens", "window"}
        if unknown:
            raise ConfigError(item, sorted(unknown), "keys among name, scope, usd, tokens, window")
        name = raw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise ConfigError(item, name, "name: a unique non-empty string")
        names.add(name)
        scope = raw.get("scope", "global")
        if scope not in SCOPES:
            raise ConfigError(item, scope, "scope: one of " + ", ".join(SCOPES))
        window = raw.get("window")
        if window is not None and window not in WINDOWS:
            raise ConfigError(item, window, "window: one of " + ", ".join(WINDOWS))
        usd = _positive(raw.get("usd"), "usd", item)
        tokens = _positive(raw.get("tokens"), "tokens", item, integer=True)
        if usd is None and tokens is None:
            raise ConfigError(item, raw, "usd and/or tokens")
        rules.append(BudgetRule(name, scope, usd, tokens, WINDOWS[window] if window else None))
    return tuple(rules)


def load_budgets_file(path: str) -> tuple[BudgetRule, ...]:
    """Read a budgets file (JSON, or YAML for ``.yaml``/``.yml``); raises ConfigError."""
    data = read_settings_file(path, "TRIPWIRE_BUDGETS_FILE")
    return parse_budgets(data, f"TRIPWIRE_BUDGETS_FILE ({path})")


__all__ = ["Account", "BudgetBlock", "BudgetRule", "active_blocks", "budget",
           "load_budgets_file", "parse_budgets"]
