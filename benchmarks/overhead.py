"""What instrumentation adds per call and per stream chunk.

``run_overhead`` (section ``overhead``): the real openai and anthropic SDKs over in-process
mock transports, A/B against the uninstrumented SDK: tripwire, tripwire with
``EnrichingSpanProcessor``, and the official ``opentelemetry-instrumentation-openai-v2``.

``run_isolated`` (section ``isolated``): our wrapper alone around pre-made SDK results (no
HTTP, JSON or pydantic), against the same call bare, and beside it ``sdk-share`` (see
:func:`enrichment.sdk_share_op`), so that ``own`` = wrapper - sdk-share is our Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import harness
from _mock import (
    ANTHROPIC_MODEL,
    MESSAGES,
    STREAM_CHUNKS,
    make_anthropic_client,
    make_clients,
)
from enrichment import sdk_share_op
from harness import (
    CHUNK_COLUMN,
    Raw,
    block,
    fmt,
    interleave,
    paired,
    per_chunk,
    print_table,
    providers,
    stats,
)


# --- variants -----------------------------------------------------------------------------
def anthropic_instrumentor() -> tuple[Any, str | None]:
    """(AnthropicInstrumentor class or None, why not)."""
    try:
        from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    except Exception as exc:  # its rows are skipped, with a line saying why
        return None, f"{type(exc).__name__}: {exc}"
    return AnthropicInstrumentor, None


class Variant:
    """Providers are made once; ``instrument()``/``uninstrument()`` around every block."""

    name = "sdk"
    providers_covered: tuple[str, ...] = ("openai", "anthropic")

    def instrument(self) -> None: ...

    def uninstrument(self) -> None: ...

    def shutdown(self) -> None: ...


class Tripwire(Variant):
    def __init__(self, enrich: bool, anthropic_cls: Any) -> None:
        from tripwire.instrumentation.openai import OpenAIInstrumentor

        self.name = "tripwire+enrich" if enrich else "tripwire"
        self.providers_covered = ("openai", "anthropic") if anthropic_cls else ("openai",)
        self.tp, self.mp = providers(enrich)
        self.insts = [OpenAIInstrumentor()]
        if anthropic_cls is not None:
            self.insts.append(anthropic_cls())

    def instrument(self) -> None:
        for inst in self.insts:
            inst.instrument(tracer_provider=self.tp, meter_provider=self.mp, skip_dep_check=True)

    def uninstrument(self) -> None:
        for inst in self.insts:
            inst.uninstrument()

    def shutdown(self) -> None:
        self.tp.shutdown()


class Official(Variant):
    name = "official-openai-v2"
    providers_covered = ("openai",)

    def __init__(self) -> None:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        self.tp, self.mp = providers(False)
        self.inst = OpenAIInstrumentor()

    def instrument(self) -> None:
        self.inst.instrument(tracer_provider=self.tp, meter_provider=self.mp, skip_dep_check=True)

    def uninstrument(self) -> None:
        self.inst.uninstrument()

    def shutdown(self) -> None:
        self.tp.shutdown()


# --- operations ---------------------------------------------------------------------------
class Op:
    def __init__(self, name: str, provider: str, fn: Callable[[], Any], chunks: int = 0) -> None:
        self.name, self.provider, self.fn, self.chunks = name, provider, fn, chunks


def operations(with_anthropic: bool) -> list[Op]:
    client, _ = make_clients(STREAM_CHUNKS)
    client1, _ = make_clients(1)

    def chat() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def embeddings() -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input="hello")

    def responses() -> Any:
        return client.responses.create(model="gpt-4o-mini", input="Where is my order?")

    def streamer(c: Any) -> Callable[[], None]:
        def stream() -> None:
            for _ in c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                               stream=True,
                                               stream_options={"include_usage": True}):
                pass
        return stream

    ops = [Op("chat", "openai", chat), Op("embeddings", "openai", embeddings),
           Op("responses", "openai", responses), Op("stream1", "openai", streamer(client1), 1),
           Op("stream200", "openai", streamer(client), STREAM_CHUNKS)]
    if with_anthropic:
        anthropic = make_anthropic_client(STREAM_CHUNKS)
        anthropic1 = make_anthropic_client(1)
        prompt = [{"role": "user", "content": "Where is my order 1234?"}]

        def messages() -> Any:
            return anthropic.messages.create(model=ANTHROPIC_MODEL, max_tokens=256,
                                             system="You are a support assistant.",
                                             messages=prompt)

        def a_streamer(c: Any) -> Callable[[], None]:
            def stream() -> None:
                for _ in c.messages.create(model=ANTHROPIC_MODEL, max_tokens=256,
                                           messages=prompt, stream=True):
                    pass
            return stream

        ops += [Op("anthropic.chat", "anthropic", messages),
                Op("anthropic.stream1", "anthropic", a_streamer(anthropic1), 1),
                Op("anthropic.stream200", "anthropic", a_streamer(anthropic), STREAM_CHUNKS)]
    return ops


# --- real SDK, A/B ------------------------------------------------------------------------
def run_overhead(rounds: int, calls: int, stream_calls: int) -> dict[str, Any]:
    anthropic_cls, why = anthropic_instrumentor()
    notes = []
    if anthropic_cls is None:
        notes.append("anthropic: skipped, tripwire.instrumentation.anthropic does not import "
                     f"({why})")
    ops = {op.name: op for op in operations(with_anthropic=anthropic_cls is not None)}
    variants: list[Variant] = [Variant(), Tripwire(False, anthropic_cls),
                               Tripwire(True, anthropic_cls)]
    try:
        variants.append(Official())
    except Exception as exc:
        notes.append(f"official-openai-v2: skipped ({type(exc).__name__}: {exc})")
    by_name = {v.name: v for v in variants}
    for variant in variants:  # warm up SDK caches, pydantic models, first-call imports
        variant.instrument()
        for op in ops.values():
            if op.provider in variant.providers_covered:
                for _ in range(5):
                    op.fn()
        variant.uninstrument()

    def measure(name: str, op_name: str) -> float | None:
        variant, op = by_name[name], ops[op_name]
        if op.provider not in variant.providers_covered:
            return None
        variant.instrument()
        try:
            return block(op.fn, stream_calls if op.chunks > 1 else calls)
        finally:
            variant.uninstrument()

    other: Raw = {}
    try:
        raw, floor = interleave(rounds, list(by_name), list(ops), measure, calls, "overhead",
                                other)
    finally:
        for variant in variants:
            variant.shutdown()
    out = summarize_overhead(raw, floor, notes)
    # The same blocks on the other clock (wall time by default), reported beside.
    other_clock = "wall" if harness.clock_name == "cpu" else "cpu"
    out["clock"], out["other_clock"] = harness.clock_name, other_clock
    out["other"] = summarize_overhead(other, floor, [])["variants"]
    return out


def summarize_overhead(raw: Raw, floor: list[float], notes: list[str]) -> dict[str, Any]:
    base = raw["sdk"]
    out: dict[str, Any] = {"floor_us": stats(floor), "notes": notes, "variants": {}}
    for variant, ops in raw.items():
        table: dict[str, Any] = {}
        for op, values in ops.items():
            if not values:
                continue
            entry: dict[str, Any] = {"us": stats(values)}
            if variant != "sdk":
                entry["added_us"] = paired(values, base[op])
            table[op] = entry
        for prefix in ("", "anthropic."):
            s200, s1 = ops.get(prefix + "stream200"), ops.get(prefix + "stream1")
            if variant == "sdk" or not s200 or not s1:
                continue
            table[prefix + "stream200"]["added_us_per_chunk"] = per_chunk(
                s200, base[prefix + "stream200"], s1, base[prefix + "stream1"],
                STREAM_CHUNKS - 1)
        out["variants"][variant] = table
    return out


def print_overhead(result: dict[str, Any]) -> None:
    print_table(
        ["== overhead (median, p10…p90 over rounds; added = paired vs the uninstrumented SDK "
         "in the same round)",
         f"floor, one SDK span with 15 attributes + 2 histogram points: "
         f"{fmt(result['floor_us'])} µs",
         *("  " + note for note in result["notes"])],
        result["variants"], 21,
        [("µs/op", "us", 26, 1), ("added µs/op", "added_us", 26, 1), CHUNK_COLUMN])
    if result.get("other"):
        print_table([f"-- the same blocks, {result['other_clock']} time"], result["other"], 21,
                    [("µs/op", "us", 26, 1), ("added µs/op", "added_us", 26, 1),
                     CHUNK_COLUMN])


# --- our wrapper alone --------------------------------------------------------------------
def run_isolated(rounds: int, calls: int) -> dict[str, Any]:
    """The wrapper every instrumented openai method goes through, around a pre-made response
    (or an iterator of pre-parsed chunks), against calling/iterating the same thing bare.
    Includes span, metrics and (with enrichment) the processor."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from tripwire._core.telemetry import make_telemetry
    from tripwire._core.wrapping import make_wrapper
    from tripwire.instrumentation.openai import chat, embeddings, responses

    client, _ = make_clients(STREAM_CHUNKS)
    made = {
        "chat": (chat.MAPPING, client.chat.completions,
                 client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
                 {"model": "gpt-4o-mini", "messages": MESSAGES}),
        "embeddings": (embeddings.MAPPING, client.embeddings,
                       client.embeddings.create(model="text-embedding-3-small", input="hello"),
                       {"model": "text-embedding-3-small", "input": "hello"}),
        "responses": (responses.MAPPING, client.responses,
                      client.responses.create(model="gpt-4o-mini", input="Where is my order?"),
                      {"model": "gpt-4o-mini", "input": "Where is my order?"}),
    }
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                 stream=True,
                                                 stream_options={"include_usage": True}))
    stream_kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
                     "stream_options": {"include_usage": True}}
    few = chunks[:1] + chunks[-2:]  # one content chunk, the finish chunk, the usage chunk

    def ops_for(tp: Any, mp: Any) -> dict[str, Callable[[], Any]]:
        telemetry = make_telemetry("bench", tp, mp)
        ops: dict[str, Callable[[], Any]] = {}
        for name, (mapping, instance, result, kwargs) in made.items():
            wrapper = make_wrapper(telemetry, mapping, False)
            ops[name] = (lambda w=wrapper, i=instance, r=result, k=kwargs:
                         w(lambda *a, **kw: r, i, (), k))
        wrapper = make_wrapper(telemetry, chat.MAPPING, False)
        for name, items in (("stream_few", few), ("stream200", chunks)):
            def stream(w: Any = wrapper, items: list[Any] = items) -> None:
                for _ in w(lambda *a, **kw: iter(items), client.chat.completions, (),
                           stream_kwargs):
                    pass
            ops[name] = stream
        return ops

    def bare(items: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in iter(items):
                pass
        return run

    bare_ops: dict[str, Callable[[], Any]] = {
        name: (lambda r=result: (lambda *a, **kw: r)()) for name, (_, _, result, _) in made.items()}
    bare_ops["stream_few"] = bare(few)
    bare_ops["stream200"] = bare(chunks)
    providers_ = {"tripwire": providers(False), "tripwire+enrich": providers(True)}
    variants = {"bare": bare_ops,
                **{name: ops_for(tp, mp) for name, (tp, mp) in providers_.items()}}
    share_tps = []
    for enrich in (False, True):  # not for streams
        share: dict[str, Callable[[], Any]] = {}
        for name in made:
            share[name], share_tp = sdk_share_op(
                lambda tp, mp, name=name: ops_for(tp, mp)[name](), enrich)
            share_tps.append(share_tp)
        variants["sdk-share+enrich" if enrich else "sdk-share"] = share
    # The official instrumentation's wrapper around the same results, and its SDK share: where
    # the difference between the two is the SDK's work (attributes, points) or Python.
    try:
        official_tp, official_mp = providers(False)
        providers_["official-openai-v2"] = (official_tp, official_mp)
        variants["official-openai-v2"] = official_ops(made, official_tp, official_mp)
        share = {}
        for name in variants["official-openai-v2"]:
            share[name], share_tp = sdk_share_op(
                lambda tp, mp, name=name: official_ops(made, tp, mp)[name](), False)
            share_tps.append(share_tp)
        variants["sdk-share-official"] = share
    except Exception as exc:  # not installed, or another version's layout
        providers_.pop("official-openai-v2", None)
        print(f"isolated: official-openai-v2 skipped ({type(exc).__name__}: {exc})",
              file=sys.stderr)
    # Production calls run inside a sampled server span: then the SDK's default exemplar
    # filter (trace_based) offers every metric point as an exemplar.
    parent = otel_trace.set_span_in_context(NonRecordingSpan(SpanContext(
        0x5EED << 64, 0x5EED, False, TraceFlags(TraceFlags.SAMPLED))))

    def in_span(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            token = otel_context.attach(parent)
            try:
                return fn()
            finally:
                otel_context.detach(token)
        return run

    for ops in variants.values():
        ops["chat_in_span"] = in_span(ops["chat"])

    def measure(name: str, op: str) -> float | None:
        fn = variants[name].get(op)
        if fn is None:
            return None
        return block(fn, max(calls // 10, 5) if op == "stream200" else calls)

    try:
        raw, floor = interleave(rounds, list(variants), list(bare_ops), measure, calls,
                                "isolated")
    finally:
        for tp in [*(tp for tp, _ in providers_.values()), *share_tps]:
            tp.shutdown()
    out: dict[str, Any] = {"floor_us": stats(floor), "variants": {}}
    for name in ("sdk-share", "sdk-share+enrich", "sdk-share-official"):
        if name in raw:
            out["variants"][name] = {op: {"added_us": paired(values, raw["bare"][op])}
                                     for op, values in raw[name].items() if values}
    for name in providers_:
        table: dict[str, Any] = {}
        share_name = ("sdk-share-official" if name == "official-openai-v2"
                      else name.replace("tripwire", "sdk-share"))
        for op in bare_ops:
            if not raw[name][op]:
                continue
            table[op] = {"added_us": paired(raw[name][op], raw["bare"][op])}
            if raw[share_name][op]:
                # The wrapper's own Python: minus the SDK work it asked for, same round.
                table[op]["own_us"] = paired(raw[name][op], raw[share_name][op])
        if "stream200" not in table:
            out["variants"][name] = table
            continue
        table["stream200"]["added_us_per_chunk"] = per_chunk(
            raw[name]["stream200"], raw["bare"]["stream200"], raw[name]["stream_few"],
            raw["bare"]["stream_few"], len(chunks) - len(few))
        out["variants"][name] = table
    return out


def official_ops(made: dict[str, Any], tp: Any, mp: Any) -> dict[str, Callable[[], Any]]:
    """The official openai-v2 instrumentation's wrappers (bound to ``tp``/``mp``) around the
    pre-made results of ``made``; chat and embeddings (it does not instrument Responses)."""
    import openai.resources.chat.completions as chat_module
    import openai.resources.embeddings as embeddings_module
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tp, meter_provider=mp, skip_dep_check=True)
    try:  # the wrappers keep their tracer and instruments once unwrapped
        wrappers = {"chat": chat_module.Completions.create._self_wrapper,
                    "embeddings": embeddings_module.Embeddings.create._self_wrapper}
    finally:
        instrumentor.uninstrument()
    ops: dict[str, Callable[[], Any]] = {}
    for name, wrapper in wrappers.items():
        _, instance, result, kwargs = made[name]
        ops[name] = (lambda w=wrapper, i=instance, r=result, k=kwargs:
                     w(lambda *a, **kw: r, i, (), k))
    return ops


def print_isolated(result: dict[str, Any]) -> None:
    print_table(
        ["== our wrapper alone around pre-made openai results (no HTTP/JSON/pydantic), "
         "µs added, median (p10…p90)",
         f"floor: {fmt(result['floor_us'])} µs",
         "sdk-share: the same spans and metric points replayed on the SDK without our code "
         "(with +enrich: the context-window point and the rebuilt span too); own = the "
         "wrapper minus its sdk-share, same round; official-openai-v2: the official "
         "instrumentation's wrapper around the same results, with its own sdk-share"],
        result["variants"], 14,
        [("added µs/op", "added_us", 26, 1), ("own µs/op", "own_us", 26, 1), CHUNK_COLUMN])
