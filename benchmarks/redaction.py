"""Redaction throughput: every built-in pattern over ordinary prose and over adversarial
inputs (long runs of each pattern's alphabet, near-misses), and a 1 MB adversarial prompt end
to end through an instrumented openai call with every built-in on. The figure that matters is
the per-byte slowdown of the worst adversarial input against prose: linear patterns keep it a
small constant; a backtracking one makes it grow with the input."""

from __future__ import annotations

import time
from typing import Any

import harness
from _mock import make_clients

from tripwire._core.redaction import redact
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.runtime import get_runtime, set_settings
from tripwire.settings import ContentCapture, Settings

ALL = ("email", "card", "phone", "ipv4", "secret")
SIZE = 1_000_000
PROSE = "The quick brown fox jumps over the lazy dog; order 1234 ships on Monday. "
ADVERSARIAL = {  # name -> a unit repeated to SIZE characters
    "letters (email local part)": "a",
    "local-part alphabet": "a.b_c%d+e-",
    "hex (hashes, keys)": "0123456789abcdef",
    "@ chain (email domains)": "a@a.",
    "digits (card)": "1",
    "digits and spaces (card)": "1 ",
    "dotted digits (ipv4, phone)": "1.2.",
    "phone near-miss": "+1 (23) ",
    "sk- chain (secret)": "sk-",
    "Bearer chain (secret)": "Bearer ",
}


def _text(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


def _seconds(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        redact(text, ALL)
        best = min(best, time.process_time() - start)
    return max(best, 1e-9)


def _end_to_end(repeats: int) -> dict[str, float]:
    """ms added to one chat call whose prompt is 1 MB of adversarial text, with capture and
    every built-in redaction on, against the same call with capture off."""
    tracer_provider, meter_provider = harness.providers()
    client, _ = make_clients()
    messages = [{"role": "user", "content": _text("a.b_c%d+e-")}]
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    timings: dict[str, float] = {}
    try:
        for label, settings in (
                ("off", Settings()),
                ("on", Settings(capture_content=ContentCapture.SPAN_ONLY,
                                content_redaction=ALL))):
            set_settings(settings)
            best = float("inf")
            for _ in range(repeats):
                start = time.process_time()
                client.chat.completions.create(model="gpt-4o-mini", messages=messages)
                best = min(best, time.process_time() - start)
            timings[label] = best
    finally:
        inst.uninstrument()
        tracer_provider.shutdown()
        get_runtime().reset()
    added = (timings["on"] - timings["off"]) * 1000
    return {"median": round(added, 2), "p10": round(added, 2), "p90": round(added, 2)}


def run_redaction(repeats: int) -> dict[str, Any]:
    prose = _seconds(_text(PROSE), repeats)
    rows: dict[str, Any] = {"prose": {"mb_per_s": round(SIZE / 1e6 / prose, 1), "slowdown": 1.0}}
    for name, unit in ADVERSARIAL.items():
        seconds = _seconds(_text(unit), repeats)
        rows[name] = {"mb_per_s": round(SIZE / 1e6 / seconds, 1),
                      "slowdown": round(seconds / prose, 2)}
    worst = max(row["slowdown"] for row in rows.values())
    return {"inputs": rows,
            "worst_slowdown": {"median": worst, "p10": worst, "p90": worst},
            "end_to_end_1mb_ms": _end_to_end(repeats)}


def print_redaction(result: dict[str, Any]) -> None:
    print("\n== redaction, every built-in on, 1 MB inputs (best of repeats, CPU time)")
    print(f"{'input':<32}{'MB/s':>10}{'× prose per byte':>20}")
    for name, row in result["inputs"].items():
        print(f"{name:<32}{row['mb_per_s']:>10.1f}{row['slowdown']:>20.2f}")
    print(f"1 MB adversarial prompt through an instrumented chat call, capture + every "
          f"built-in: +{result['end_to_end_1mb_ms']['median']:.1f} ms")
