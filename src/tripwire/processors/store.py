"""A budget ledger shared by every process: Redis (``TRIPWIRE_BUDGET_STORE=redis://…``).

Every worker and replica of a service reserves, settles and releases on the same accounts,
each operation one server-side Lua script (atomic on the server). Key layout under the
namespace ``ns`` (``TRIPWIRE_BUDGET_STORE_NAMESPACE``); ``{a}`` is ``budget name`` + ``\\x1f`` +
``scope key``:

- ``ns:a:{a}`` — hash, a cumulative account: ``u`` spent USD in nano-dollars (integers keep
  the sums exact), ``t`` spent tokens. Never expires: a cumulative budget lasts as long as it
  is configured (``clear()`` or a ``DEL`` forgets it) — except a ``trace`` scope's, which ends
  with its request: it expires :data:`TRACE_ACCOUNT_TTL_SECONDS` after its last spending (one
  key per request would otherwise pile up for ever).
- ``ns:w:{a}`` — hash, a rolling-window account: ``u<bucket>`` / ``t<bucket>`` per 1/60 of the
  window (bucket = server time / width), older buckets dropped by every script that reads
  it; expires one window after its last spending.
- ``ns:r:{a}`` — sorted set, the reservations on an account: member
  ``<id>|<nano-USD>|<tokens>``, score = the server time (ms) at which it stops counting, so a
  reservation of a process that died expires by itself (``TRIPWIRE_BUDGET_RESERVATION_TTL_SECONDS``).
- ``ns:c:<charge id>`` — a settled charge (an hour): a retried settlement changes nothing.

Amounts are capped at :data:`MAX_UNITS` per operation (about $1.1M, 1.1e15 tokens), so Lua's
doubles add them exactly and ``HINCRBY`` never sees a number it cannot parse.

Failures: every command has ``TRIPWIRE_BUDGET_STORE_TIMEOUT_MS`` to connect and answer; any
error raises :class:`~tripwire.processors.ledger.LedgerUnavailable`, and the store is then
skipped (no network at all) for :data:`BREAKER_SECONDS`; then one call probes it while the
others keep skipping it. One warning is logged per outage, one info line when it is back.

A reservation whose operation failed may still have been taken (the script ran, the answer
timed out), and the caller then drops it (``store_unavailable``): its member and keys are kept
(bounded, :data:`MAX_ORPHANS`) and released once the store answers again, so it does not hold
budget until its TTL. The same goes for the reservation of a settlement or release that
failed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from tripwire.budgets import RUN_SCOPES, BudgetRule
from tripwire.processors.ledger import (
    Amount,
    Crossing,
    LedgerUnavailable,
    Reservation,
    Scope,
    Spend,
)

logger = logging.getLogger("tripwire")

NANO = 1_000_000_000  # USD are stored as integer nano-dollars
BREAKER_SECONDS = 2.0  # how long a failed store is skipped before one call probes it again
CHARGE_TTL_SECONDS = 3_600  # how long a settled charge id is remembered (retries come sooner)
TRACE_ACCOUNT_TTL_SECONDS = 86_400  # a trace-scope account outlives its request by this much
MAX_UNITS = 2**50  # per-operation cap of nano-USD and tokens: Lua doubles stay exact
MAX_ORPHANS = 10_000  # reservations to release once a failed store answers again
_ORPHANS_PER_CALL = 64  # released after one successful operation (bounded work per call)
_SEP = "\x1f"  # between budget name and scope key (never in either in practice)

# Reads an account (cumulative or windowed, buckets pruned) and its live reservations.
# Shared by every script; `now` is the server's time in ms (one clock for every process).
_READ = """
local function spent(akey, wkey, window_ms, now)
  if window_ms <= 0 then
    local v = redis.call('HMGET', akey, 'u', 't')
    return tonumber(v[1] or 0), tonumber(v[2] or 0)
  end
  local width = window_ms / 60
  local oldest = math.floor(now / width) - 59
  local u, t = 0, 0
  local flat = redis.call('HGETALL', wkey)
  for i = 1, #flat, 2 do
    local field, value = flat[i], tonumber(flat[i + 1])
    local bucket = tonumber(string.sub(field, 2))
    if bucket < oldest then
      redis.call('HDEL', wkey, field)
    elseif string.sub(field, 1, 1) == 'u' then
      u = u + value
    else
      t = t + value
    end
  end
  return u, t
end

local function reserved(rkey, now)
  redis.call('ZREMRANGEBYSCORE', rkey, '-inf', now)
  local u, t = 0, 0
  for _, member in ipairs(redis.call('ZRANGE', rkey, 0, -1)) do
    local _, _, mu, mt = string.find(member, '|(%d+)|(%d+)$')
    u = u + tonumber(mu)
    t = t + tonumber(mt)
  end
  return u, t
end

local function server_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
"""

# KEYS: per scope a, w, r. ARGV: member, ttl_ms, then per scope window_ms, limit_u, limit_t
# (-1: no limit). Returns nil, or {scope index, 'usd'|'tokens', committed}.
_RESERVE = _READ + """
local now = server_ms()
local n = #KEYS / 3
for i = 1, n do
  local window, lu, lt = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local su, st = spent(KEYS[3 * i - 2], KEYS[3 * i - 1], window, now)
  local ru, rt = reserved(KEYS[3 * i], now)
  if lu >= 0 and su + ru >= lu then return {i, 'usd', string.format('%.0f', su + ru)} end
  if lt >= 0 and st + rt >= lt then return {i, 'tokens', string.format('%.0f', st + rt)} end
end
local expiry = now + tonumber(ARGV[2])
for i = 1, n do
  redis.call('ZADD', KEYS[3 * i], expiry, ARGV[1])
  -- only ever later: a process with a shorter TTL must not cut other reservations short
  if redis.call('PTTL', KEYS[3 * i]) < tonumber(ARGV[2]) then
    redis.call('PEXPIREAT', KEYS[3 * i], expiry)
  end
end
return nil
"""

# KEYS: charge key, per scope a, w, r, then the reservation's own r keys.
# ARGV: n scopes, usd, tokens, member ('' when none), then per scope window_ms, expire_ms (a
# cumulative account's expiry, 0: never). usd and tokens go to HINCRBY as the strings sent.
# Returns {} when the charge was already settled, else per scope before_u, before_t.
_SETTLE = _READ + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', CHARGE_TTL) then return false end
local now = server_ms()
local n, usd, tok, member = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if member ~= '' then
  for i = 3 * n + 2, #KEYS do redis.call('ZREM', KEYS[i], member) end
end
local out = {}
for i = 1, n do
  local akey, wkey = KEYS[3 * i - 1], KEYS[3 * i]
  local window, expire = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local su, st = spent(akey, wkey, window, now)
  if window <= 0 then
    redis.call('HINCRBY', akey, 'u', usd)
    redis.call('HINCRBY', akey, 't', tok)
    if expire > 0 then redis.call('PEXPIRE', akey, expire) end
  else
    local bucket = math.floor(now / (window / 60))
    redis.call('HINCRBY', wkey, 'u' .. bucket, usd)
    redis.call('HINCRBY', wkey, 't' .. bucket, tok)
    redis.call('PEXPIRE', wkey, window + math.ceil(window / 60))
  end
  out[#out + 1] = string.format('%.0f', su)
  out[#out + 1] = string.format('%.0f', st)
end
return out
""".replace("CHARGE_TTL", str(CHARGE_TTL_SECONDS))

# KEYS: r keys; ARGV: member.
_RELEASE = """
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS: a, w; ARGV: window_ms. Returns {u, t}.
_SPENT = _READ + """
local u, t = spent(KEYS[1], KEYS[2], tonumber(ARGV[1]), server_ms())
return {string.format('%.0f', u), string.format('%.0f', t)}
"""


def _nano(usd: float) -> int:
    return min(round(usd * NANO), MAX_UNITS) if 0 < usd < float("inf") else 0


def _units(tokens: int) -> int:
    return min(max(0, int(tokens)), MAX_UNITS)


class RedisLedger:
    """:class:`~tripwire.processors.ledger.BudgetLedger` on a Redis server every process
    shares (see the module docstring for keys, expiry and failure handling)."""

    def __init__(self, url: str, *, namespace: str, timeout_ms: float,
                 reservation_ttl_seconds: float) -> None:
        import redis  # the optional extra tripwire-otel[redis]
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        timeout = timeout_ms / 1000.0
        # No retries of our own: a slow or dead store must cost one timeout at most, and
        # the breaker below keeps it from costing that on every call.
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.namespace = namespace
        self.reservation_ttl_ms = max(1, round(reservation_ttl_seconds * 1000))
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)
        self._release_script = self._client.register_script(_RELEASE)
        self._spent = self._client.register_script(_SPENT)
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic time before which the store is skipped (0: up)
        self._outage = False
        # (reservation keys, member) of reservations that may have been left behind
        self._orphans: deque[tuple[list[str], str]] = deque(maxlen=MAX_ORPHANS)

    # --- keys ------------------------------------------------------------------------------
    def _keys(self, scope: Scope) -> list[str]:
        rule, key = scope
        account = f"{rule.name}{_SEP}{key}"
        ns = self.namespace
        return [f"{ns}:a:{account}", f"{ns}:w:{account}", f"{ns}:r:{account}"]

    @staticmethod
    def _window_ms(rule: BudgetRule) -> int:
        return round(rule.window_seconds * 1000) if rule.window_seconds else 0

    @staticmethod
    def _expire_ms(rule: BudgetRule) -> int:
        # A trace ends with its request, an agent run with the run; every other cumulative
        # budget lasts while configured.
        return TRACE_ACCOUNT_TTL_SECONDS * 1000 if rule.scope in RUN_SCOPES and not \
            rule.window_seconds else 0

    @staticmethod
    def _member(reservation_id: str, usd: float, tokens: int) -> str:
        return f"{reservation_id}|{_nano(usd)}|{_units(tokens)}"

    # --- the circuit breaker -----------------------------------------------------------------
    def _run(self, script: Any, keys: list[str], args: list[Any],
             orphan: tuple[list[str], str] | None = None) -> Any:
        """One script call through the breaker. ``orphan``: the reservation this operation
        takes or drops, to release later if the operation fails after reaching the store."""
        if self._down_until:
            with self._lock:
                now = time.monotonic()
                if now < self._down_until:
                    raise LedgerUnavailable("budget store skipped after a failure")
                if self._down_until:
                    # Half open: this call probes; the others skip until it has an answer,
                    # so a store that hangs costs one timeout per window, not one per caller.
                    self._down_until = now + BREAKER_SECONDS
        try:
            result = script(keys=keys, args=args)
        except self._errors as exc:
            if orphan is not None:
                self._orphans.append(orphan)
            with self._lock:
                self._down_until = time.monotonic() + BREAKER_SECONDS
                first = not self._outage
                self._outage = True
            if first:
                logger.warning("tripwire: budget store unreachable (%s: %s); until it is back, "
                               "TRIPWIRE_BUDGET_STORE_FAILURE decides whether calls go ahead",
                               type(exc).__name__, str(exc)[:200])
            raise LedgerUnavailable(str(exc)[:200]) from None
        if self._outage:
            with self._lock:
                recovered, self._outage, self._down_until = self._outage, False, 0.0
            if recovered:
                logger.info("tripwire: budget store reachable again")
        if self._orphans:
            self._release_orphans()
        return result

    def _release_orphans(self) -> None:
        """Best effort, a bounded batch per call: drop reservations a failed operation may
        have left in the store (they would otherwise hold budget until their TTL)."""
        batch: list[tuple[list[str], str]] = []
        while self._orphans and len(batch) < _ORPHANS_PER_CALL:
            try:
                batch.append(self._orphans.popleft())
            except IndexError:  # another thread took the last ones
                break
        if not batch:
            return
        pipe = self._client.pipeline(transaction=False)  # one round trip for the batch
        for keys, member in batch:
            self._release_script(keys=keys, args=[member], client=pipe)
        try:
            pipe.execute()
        except self._errors:
            self._orphans.extend(batch)  # the next successful operation tries again

    # --- BudgetLedger ----------------------------------------------------------------------
    def reserve(self, reservation_id: str, scopes: Sequence[Scope], usd: float,
                tokens: int) -> Crossing | None:
        keys: list[str] = []
        args: list[Any] = [self._member(reservation_id, usd, tokens), self.reservation_ttl_ms]
        for scope in scopes:
            rule = scope[0]
            keys += self._keys(scope)
            args += [self._window_ms(rule),
                     _nano(rule.usd) if rule.usd is not None else -1,
                     rule.tokens if rule.tokens is not None else -1]
        member = str(args[0])
        found = self._run(self._reserve, keys, args, orphan=(keys[2::3], member))
        if not found:
            return None
        index, unit, committed = int(found[0]) - 1, _text(found[1]), float(found[2])
        rule, key = scopes[index]
        if unit == "usd":
            assert rule.usd is not None
            return Crossing(rule, key, "usd", rule.usd, committed / NANO, True, False)
        assert rule.tokens is not None
        return Crossing(rule, key, "tokens", rule.tokens, committed, True, False)

    def settle(self, charge_id: str, scopes: Sequence[Scope], usd: float, tokens: int,
               reservation: Reservation | None = None) -> list[Spend]:
        nano, tokens = _nano(usd), _units(tokens)
        keys = [f"{self.namespace}:c:{charge_id}"]
        for scope in scopes:
            keys += self._keys(scope)
        member = ""
        orphan: tuple[list[str], str] | None = None
        if reservation is not None and reservation.scopes:
            member = self._member(reservation.id, reservation.usd, reservation.tokens)
            held = [self._keys(scope)[2] for scope in reservation.scopes]
            keys += held
            orphan = (held, member)
        if not scopes and orphan is None:
            return []  # nothing to charge, nothing to drop: no round trip
        args: list[Any] = [len(scopes), nano, tokens, member]
        for rule, _ in scopes:
            args += [self._window_ms(rule), self._expire_ms(rule)]
        found = self._run(self._settle, keys, args, orphan)
        if not found:
            return []  # settled before: a retry
        spends = []
        for i, (rule, key) in enumerate(scopes):
            before_u, before_t = int(float(found[2 * i])), int(float(found[2 * i + 1]))
            spends.append(Spend(rule, key, (before_u / NANO, before_t),
                                ((before_u + nano) / NANO, before_t + tokens)))
        return spends

    def release(self, reservation: Reservation) -> None:
        if not reservation.scopes:
            return
        keys = [self._keys(scope)[2] for scope in reservation.scopes]
        member = self._member(reservation.id, reservation.usd, reservation.tokens)
        self._run(self._release_script, keys, [member], orphan=(keys, member))

    def spent(self, scope: Scope) -> Amount:
        found = self._run(self._spent, self._keys(scope)[:2], [self._window_ms(scope[0])])
        return int(float(found[0])) / NANO, int(float(found[1]))

    def resize(self, max_entries: int, ttl_seconds: float) -> None:
        """Nothing to do: the store's accounts are bounded by their budgets' lifetimes."""

    def clear(self) -> None:
        """Delete every key of the namespace (tests)."""
        try:
            pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.namespace) + ":*"
            keys = list(self._client.scan_iter(match=pattern, count=1000))
            if keys:
                self._client.delete(*keys)
        except self._errors as exc:
            raise LedgerUnavailable(str(exc)[:200]) from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
