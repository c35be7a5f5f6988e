"""A budget ledger shared by every process, on Redis (placeholder, being written)."""

from __future__ import annotations

from collections.abc import Sequence

from tripwire.processors.ledger import Amount, Crossing, Reservation, Scope, Spend


class RedisLedger:
    def __init__(self, url: str, *, namespace: str, timeout_ms: float,
                 reservation_ttl_seconds: float) -> None:
        raise NotImplementedError("the Redis budget store is being written")

    def reserve(self, reservation_id: str, scopes: Sequence[Scope], usd: float,
                tokens: int) -> Crossing | None:
        raise NotImplementedError

    def settle(self, charge_id: str, scopes: Sequence[Scope], usd: float, tokens: int,
               reservation: Reservation | None = None) -> list[Spend]:
        raise NotImplementedError

    def release(self, reservation: Reservation) -> None:
        raise NotImplementedError

    def spent(self, scope: Scope) -> Amount:
        raise NotImplementedError

    def resize(self, max_entries: int, ttl_seconds: float) -> None:
        pass

    def clear(self) -> None:
        pass
