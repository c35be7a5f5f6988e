"""Prices and context-window sizes: genai-prices' bundled snapshot plus a user overlay file.

Never any network I/O: we only read the snapshot genai-prices ships (``calc_price`` and
friends read ``data_snapshot.get_snapshot()``, which is the bundled data unless the
application itself started genai-prices' ``UpdatePrices``; tripwire never does).

Token semantics: ``gen_ai.usage.input_tokens`` *includes* cached tokens, and so does
genai-prices' ``input_tokens`` (it subtracts ``cache_read_tokens``/``cache_write_tokens`` to
price the uncached part), so the semconv numbers pass through unchanged. A foreign span whose
input count excludes the cache (cache > input) is read as exclusive and added up instead.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

from tripwire import semconv
from tripwire._compat import (
    bound_genai_prices_memos,
    genai_prices_find_model,
    genai_prices_has_provider,
    genai_prices_snapshot,
    is_tiered_prices,
)
from tripwire._core.memo import IdentityCache, by_identity
from tripwire.errors import ConfigError
from tripwire.settings import read_settings_file

# gen_ai.provider.name -> genai-prices provider ids to try, in order.
PROVIDER_IDS: dict[str, tuple[str, ...]] = {
    semconv.PROVIDER_OPENAI: ("openai",),
    semconv.PROVIDER_AZURE_OPENAI: ("azure", "openai"),
    semconv.PROVIDER_AZURE_INFERENCE: ("azure",),
    semconv.PROVIDER_ANTHROPIC: ("anthropic",),
    semconv.PROVIDER_GCP_GEMINI: ("google",),
    semconv.PROVIDER_GCP_VERTEX_AI: ("google",),
    semconv.PROVIDER_GCP_GEN_AI: ("google",),
    semconv.PROVIDER_AWS_BEDROCK: ("aws",),
    semconv.PROVIDER_GROQ: ("groq",),
    semconv.PROVIDER_DEEPSEEK: ("deepseek",),
    semconv.PROVIDER_MISTRAL: ("mistral",),
    semconv.PROVIDER_PERPLEXITY: ("perplexity",),
    semconv.PROVIDER_XAI: ("x-ai",),
    semconv.PROVIDER_COHERE: ("cohere",),
    # deprecated gen_ai.system values seen on spans of older instrumentors
    "az.ai.openai": ("azure", "openai"),
    "az.ai.inference": ("azure",),
    "vertex_ai": ("google",),
    "gemini": ("google",),
    "xai": ("x-ai",),
}
_MTOK = Decimal(1_000_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CACHE_SIZE = 1024


class Usage(NamedTuple):  # a tuple: built for every priced span
    input_tokens: int = 0  # includes cache reads and writes (semconv)
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, whatever their lifetime
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens kept for one hour


# Request terms that select a price variant (genai-prices' ``price_context``): sorted
# (key, value) pairs, e.g. (("service_tier", "priority"),). Empty: the standard prices.
PriceContext = tuple[tuple[str, str], ...]
STANDARD_TIER = "standard"
_CONTEXTS_PER_PRICE = 32


@dataclass(frozen=True)
class OverlayEntry:
    match: str
    provider: str | None = None
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    context_window: int | None = None

    @property
    def priced(self) -> bool:
        return self.input_per_mtok is not None or self.output_per_mtok is not None

    def matches(self, provider: str | None, model: str) -> bool:
        if self.provider and provider and self.provider != provider:
            return False
        pattern, name = self.match.lower(), model.lower()
        if any(ch in pattern for ch in "*?["):
            return fnmatch.fnmatchcase(name, pattern)
        return pattern == name

    def cost(self, usage: Usage) -> Decimal:
        # one rate per kind: negotiated prices have no tiers or cache lifetimes
        inp, out = usage.input_tokens, usage.output_tokens
        cr, cw = usage.cache_read_tokens, usage.cache_write_tokens
        uncached = inp - cr - cw if cr + cw <= inp else inp
        in_price = self.input_per_mtok or Decimal(0)
        total = (
            uncached * in_price
            + cr * (self.cache_read_per_mtok if self.cache_read_per_mtok is not None else in_price)
            + cw * (self.cache_write_per_mtok if self.cache_write_per_mtok is not None else in_price)
            + out * (self.output_per_mtok or Decimal(0))
        )
        return total / _MTOK


@dataclass(frozen=True)
class Price:
    """A resolved model: either an overlay entry or a genai-prices (provider, model) pair."""

    source: str  # semconv.COST_SOURCE_OVERRIDE or COST_SOURCE_PRICE_TABLE
    context_window: int | None
    overlay: OverlayEntry | None = None
    gp_provider: Any = None
    gp_model: Any = None

    @property
    def priced(self) -> bool:
        return self.overlay is not None or self.gp_model is not None

    @cached_property
    def time_dependent(self) -> bool:
        """Whether :meth:`cost` depends on ``when`` (genai-prices' dated price changes)."""
        if self.overlay is not None or self.gp_model is None:
            return False
        prices = getattr(self.gp_model, "prices", None)
        return prices is None or isinstance(prices, (list, tuple))

    @cached_property
    def _variants(self) -> tuple[Any, ...]:
        """The model's request-specific price variants (service tier, batch, speed…), only
        if the model is its provider's own: genai-prices ignores the context for a model it
        found at another provider, and so do we."""
        model, provider = self.gp_model, self.gp_provider
        variants = tuple(getattr(model, "price_variants", None) or ())
        if variants and not any(model is m for m in getattr(provider, "models", ())):
            return ()
        return variants

    @cached_property
    def _by_context(self) -> dict[PriceContext, tuple[Any, str, bool]]:
        return {}

    def tier(self, context: PriceContext, when: datetime | None = None) -> str:
        """The tier whose prices :meth:`cost` applies for ``context``: the ``when`` values of
        the first price variant that matches and changes a price (``priority``, ``flex``,
        ``batch``…), else ``standard`` (the context names a tier the table has no prices
        for, or none)."""
        if not context or self.overlay is not None:
            return STANDARD_TIER
        return self._resolve_context(context, when)[1]

    def _resolve_context(self, context: PriceContext,
                         when: datetime | None) -> tuple[Any, str, bool]:
        """(genai-prices ModelPrice or None for the standard one, tier, depends on time)."""
        found = self._by_context.get(context)
        if found is not None and not found[2]:
            return found
        variants = self._variants
        timed = self.time_dependent or any(
            getattr(v, "constraint", None) is not None for v in variants)
        at = (when or datetime.now(timezone.utc)) if timed else _EPOCH
        wanted = dict(context)
        tier = STANDARD_TIER
        for variant in variants:
            constraint = getattr(variant, "constraint", None)
            if constraint is not None and not constraint.active(at):
                continue
            if all(wanted.get(k) == v for k, v in variant.when.items()) and any(
                    v is not None for v in vars(variant.prices).values()):
                tier = ",".join(str(v) for v in variant.when.values())
                break
        model_price = (self.gp_model.get_prices(at, wanted) if tier != STANDARD_TIER
                       else None)
        found = (model_price, tier, timed)
        cache = self._by_context
        if len(cache) >= _CONTEXTS_PER_PRICE:
            cache.clear()  # bounded: a foreign span may name any tier
        cache[context] = found
        return found

    @cached_property
    def _static_rates(self) -> tuple[tuple[Any, ...] | None, bool]:
        """(flat rates or None, tiered) when the price does not change over time."""
        return _rates_and_tiered(self.gp_model.get_prices(_EPOCH))

    def cost(self, usage: Usage, when: datetime | None,
             context: PriceContext = ()) -> Decimal:
        """The price of ``usage`` for a request made at ``when`` (dated prices) under the
        request terms ``context`` (service tier, batch…), as genai-prices' ``calc_price``
        computes it with ``genai_request_timestamp=when, price_context=dict(context)``."""
        if self.overlay is not None:
            return self.overlay.cost(usage)
        inp, out, cr, cw, w1h = usage
        if cr + cw > inp:
            inp += cr + cw
        w1h = min(w1h, cw)  # the one-hour writes are a part of all writes
        variant = self._resolve_context(context, when)[0] if context and self._variants else None
        if variant is not None:
            rates, tiered = _rates_and_tiered(variant)
        elif self.time_dependent:
            rates, tiered = _rates_and_tiered(
                self.gp_model.get_prices(when or datetime.now(timezone.utc)))
        else:  # the common case: rates resolved once per price
            rates, tiered = self._static_rates
        if rates is not None:  # the arithmetic of genai-prices, without its generic machinery
            if tiered:  # the tier that the total input crosses applies to every token
                rates = tuple(_at_tier(rate, inp) for rate in rates)
            rate_in, rate_out, rate_read, rate_write, rate_1h = rates
            # Each count is priced at its own rate when the table has one, else it stays in
            # its parent's count (one-hour writes in the writes, writes in the input).
            read_leaf = cr if rate_read is not None else 0
            h_leaf = w1h if rate_1h is not None else 0
            write_leaf = (cw - h_leaf) if rate_write is not None else 0
            total = (inp - read_leaf - write_leaf - h_leaf) * rate_in + out * rate_out
            if read_leaf:
                total += read_leaf * rate_read
            if write_leaf:
                total += write_leaf * rate_write
            if h_leaf:
                total += h_leaf * rate_1h
            return total / _MTOK  # type: ignore[no-any-return]
        from genai_prices import Usage as GPUsage

        gp_usage = GPUsage(
            input_tokens=inp,
            output_tokens=out,
            cache_read_tokens=cr or None,
            cache_write_tokens=cw or None,
            cache_write_1h_tokens=w1h or None,
        )
        calc = self.gp_model.calc_price(gp_usage, self.gp_provider, genai_request_timestamp=when,
                                        price_context=dict(context) or None)
        return Decimal(calc.total_price)


# Price keys that cost nothing for the usage we report (none of their units is reported).
_ZERO_FOR_TOKEN_USAGE = frozenset({
    "web_searches_kcount", "storage_searches_kcount", "input_audio_mtok",
    "input_image_mtok", "output_audio_mtok", "cache_audio_read_mtok", "cache_image_read_mtok",
    "output_image_mtok", "input_video_mtok", "output_video_mtok", "audio_hours",
    "input_audio_hours", "input_document_kpages", "input_annotated_document_kpages",
})
_FLAT_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok",
              "cache_write_1h_mtok")
_flat_cache: IdentityCache = {}


def _plain_or_tiered(rate: Any) -> bool:
    """A Decimal, or genai-prices' TieredPrices (a Decimal base, Decimal prices from int
    thresholds: e.g. Claude's and Gemini's long-context prices)."""
    if isinstance(rate, Decimal):
        return True
    tiers = getattr(rate, "tiers", None)
    return (is_tiered_prices(rate) and isinstance(rate.base, Decimal)
            and isinstance(tiers, list)
            and all(isinstance(t.price, Decimal) and type(t.start) is int for t in tiers))


def _at_tier(rate: Any, total_input: int) -> Any:
    """The rate for this request: a tier applies to all tokens once the total input tokens
    exceed its start (genai-prices' threshold model)."""
    if rate is None or isinstance(rate, Decimal):
        return rate
    for tier in reversed(rate.tiers):
        if total_input > tier.start:
            return tier.price
    return rate.base


def _rates_and_tiered(model_price: Any) -> tuple[tuple[Any, ...] | None, bool]:
    rates = _flat_rates(model_price)
    return rates, rates is not None and any(
        r is not None and not isinstance(r, Decimal) for r in rates)


def _flat_rates(model_price: Any) -> tuple[Any, ...] | None:
    """(input, output, cache read, cache write, 1-hour cache write) per MTok when they are
    plain or tiered numbers and nothing else on the price applies to token usage; None: use
    genai-prices' calc_price. Worked out once per genai-prices price object."""
    return by_identity(_flat_cache, model_price, _read_flat_rates)


def _read_flat_rates(model_price: Any) -> tuple[Any, ...] | None:
    values = {k: v for k, v in vars(model_price).items() if v is not None}
    rates: tuple[Any, ...] | None = tuple(values.get(k) for k in _FLAT_KEYS)
    if (set(values) - set(_FLAT_KEYS) - _ZERO_FOR_TOKEN_USAGE
            or any(r is not None and not _plain_or_tiered(r) for r in rates or ())
            or values.get("input_mtok") is None):
        rates = None
    elif rates is not None:
        rates = (rates[0], rates[1] or Decimal(0), *rates[2:])
    return rates


def _decimal(entry: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(where, value, f"{key}: a non-negative number (USD per million tokens)")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ConfigError(where, value, f"{key}: a non-negative number") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(where, value, f"{key}: a non-negative number")
    return number


def load_overlay(path: str) -> tuple[OverlayEntry, ...]:
    """Read and validate a prices overlay (JSON or YAML); raises ConfigError."""
    where = f"TRIPWIRE_PRICES_FILE ({path})"
    data = read_settings_file(path, "TRIPWIRE_PRICES_FILE")
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ConfigError(where, type(data).__name__, 'a mapping with a "models" list')
    entries = []
    for index, raw in enumerate(models):
        item = f"{where} models[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("match"), str) or not raw["match"]:
            raise ConfigError(item, raw, 'a mapping with a non-empty "match" model name')
        window = raw.get("context_window")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window <= 0):
            raise ConfigError(item, window, "context_window: a positive integer")
        provider = raw.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ConfigError(item, provider, "provider: a gen_ai.provider.name value")
        entries.append(
            OverlayEntry(
                match=raw["match"],
                provider=provider,
                input_per_mtok=_decimal(raw, "input_per_mtok", item),
                output_per_mtok=_decimal(raw, "output_per_mtok", item),
                cache_read_per_mtok=_decimal(raw, "cache_read_per_mtok", item),
                cache_write_per_mtok=_decimal(raw, "cache_write_per_mtok", item),
                context_window=window,
            )
        )
    return tuple(entries)


# genai-prices memoises every lookup, hit or miss, keyed by the model name, with no bound:
# a process seeing ever new model names (fine-tunes, deployments, ids) would grow forever.
# Our PriceBook cache is the bounded one; past this size the library's memos are dropped.
_GENAI_MEMO_LIMIT = 4096


def _genai_lookup(provider: str | None, model: str) -> tuple[Any, Any] | None:
    snapshot = genai_prices_snapshot()
    try:
        return _genai_find(snapshot, provider, model)
    finally:
        bound_genai_prices_memos(snapshot, _GENAI_MEMO_LIMIT)


def _genai_find(snapshot: Any, provider: str | None, model: str) -> tuple[Any, Any] | None:
    ids = (PROVIDER_IDS.get(provider) or (provider,)) if provider else ()
    for provider_id in ids:
        found = genai_prices_find_model(snapshot, model, provider_id)
        if found is not None:
            return found
    if any(genai_prices_has_provider(snapshot, pid) for pid in ids):
        return None  # a known provider without this model: unpriced, not someone else's price
    # provider unknown to genai-prices (or none given): match the model across providers
    return genai_prices_find_model(snapshot, model, None)


def _bare_bedrock_name(provider: str | None, model: str) -> bool:
    """A Bedrock price belongs to a model id or inference profile (``anthropic.…``,
    ``us.anthropic.…``, ``global.anthropic.…``: regional and global profiles differ). The
    bare vendor name an InvokeModel response reports (``claude-…``) would price every call at
    the regional rate, so it stays unpriced and the request's model id decides."""
    return provider == semconv.PROVIDER_AWS_BEDROCK and "." not in model.rpartition("/")[2]


class PriceBook:
    """Cached lookups (LRU keyed by provider + model) over the overlay and genai-prices."""

    def __init__(self, overlay: tuple[OverlayEntry, ...] = ()) -> None:
        self.overlay = overlay
        self._cache: OrderedDict[tuple[str | None, str], Price | None] = OrderedDict()
        self._lock = threading.Lock()
        # (provider, response model, request model) -> (price for cost, context window)
        self._pairs: dict[tuple[str | None, str | None, str | None],
                          tuple[Price | None, int | None]] = {}

    def for_span(self, provider: str | None, response_model: str | None,
                 request_model: str | None) -> tuple[Price | None, int | None]:
        """The price to charge (the response model's if priced, else the request model's)
        and the context window (the first of the two that has one), cached per triple."""
        key = (provider, response_model, request_model)
        found = self._pairs.get(key)
        if found is not None:
            return found
        price = None
        for model in (response_model, request_model):
            if model:
                price = self.lookup(provider, model)
                if price is not None and price.priced:
                    break
        window = None
        for model in (response_model, request_model):
            if model and (candidate := self.lookup(provider, model)) is not None:
                window = candidate.context_window
                if window:
                    break
        found = (price, window)
        if len(self._pairs) >= _CACHE_SIZE:
            self._pairs.clear()  # bounded; refilled from the LRU lookups above
        self._pairs[key] = found
        return found

    def lookup(self, provider: str | None, model: str) -> Price | None:
        key = (provider, model)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        price = self._resolve(provider, model)
        with self._lock:
            self._cache[key] = price
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return price

    def _resolve(self, provider: str | None, model: str) -> Price | None:
        window_only: int | None = None
        for entry in self.overlay:
            if entry.matches(provider, model):
                if entry.priced:
                    return Price(semconv.COST_SOURCE_OVERRIDE, entry.context_window, overlay=entry)
                window_only = window_only or entry.context_window
        found = None if _bare_bedrock_name(provider, model) else _genai_lookup(provider, model)
        if found is None:
            if window_only is not None:  # a window but no price: context only, still unpriced
                return Price(semconv.COST_SOURCE_OVERRIDE, window_only)
            return None
        gp_provider, gp_model = found
        window = window_only or getattr(gp_model, "context_window", None)
        return Price(semconv.COST_SOURCE_PRICE_TABLE, window, gp_provider=gp_provider,
                     gp_model=gp_model)
