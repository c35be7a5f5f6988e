"""Import time of ``tripwire`` and of the instrumentors, and ``instrument()`` time (section
``imports``): each figure measured in a fresh interpreter, median over several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import harness
from harness import fmt, stats

_IMPORT_PROBE = r"""
import json, sys, time
now = time.process_time if sys.argv[1] == "cpu" else time.perf_counter
out = {}
t = now(); import tripwire; out["import tripwire"] = now() - t
t = now(); import tripwire.processors
out["import tripwire.processors"] = now() - t
import openai, anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
tp, mp = TracerProvider(), MeterProvider()
t = now(); from tripwire.instrumentation.openai import OpenAIInstrumentor
out["import tripwire.instrumentation.openai"] = now() - t
t = now(); OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
out["OpenAIInstrumentor().instrument() (imports openai's lazy resource modules)"] = (
    now() - t)
OpenAIInstrumentor().uninstrument()
t = now(); OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
out["OpenAIInstrumentor().instrument() (modules already imported)"] = now() - t
try:
    t = now(); from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    out["import tripwire.instrumentation.anthropic"] = now() - t
    t = now()
    AnthropicInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    out["AnthropicInstrumentor().instrument()"] = now() - t
except Exception:
    pass
try:
    t = now(); from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as O
    out["import opentelemetry.instrumentation.openai_v2 (official)"] = now() - t
    t = now(); O().instrument(tracer_provider=tp, meter_provider=mp)
    out["official OpenAIInstrumentor().instrument()"] = now() - t
except Exception:
    pass
print(json.dumps(out))
"""


# One module imported first thing in a fresh interpreter (``cold``): what an application
# pays for that import alone. ``opentelemetry.instrumentation`` itself is a namespace
# package; ``.instrumentor`` (BaseInstrumentor) is what every instrumentor imports.
_COLD_PROBE = r"""
import sys, time
now = time.process_time if sys.argv[1] == "cpu" else time.perf_counter
import importlib
t = now(); importlib.import_module(sys.argv[2]); print(now() - t)
"""
COLD_MODULES = ("opentelemetry.instrumentation", "opentelemetry.instrumentation.instrumentor",
                "tripwire", "tripwire.instrumentation.openai")


def run_imports(repeats: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[str, list[float]] = {}
    cold: dict[str, list[float]] = {}
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, harness.clock_name],
                              capture_output=True, text=True, check=True, env=env)
        for key, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(key, []).append(seconds * 1e3)
        for module in COLD_MODULES:
            done = subprocess.run([sys.executable, "-c", _COLD_PROBE, harness.clock_name,
                                   module], capture_output=True, text=True, check=True, env=env)
            cold.setdefault(module, []).append(float(done.stdout.strip().splitlines()[-1]) * 1e3)
    out: dict[str, Any] = {key: stats(values) for key, values in samples.items()}
    out["cold"] = {module: stats(values) for module, values in cold.items()}
    return out


def print_imports(result: dict[str, Any]) -> None:
    print("\n== import and instrument() time, fresh interpreter (ms, median, p10…p90)")
    for key, s in result.items():
        if key != "cold":
            print(f"{key:<76}{fmt(s, 1):>24}")
    for module, s in result.get("cold", {}).items():
        print(f"{'import ' + module + ', alone in a fresh interpreter':<76}{fmt(s, 1):>24}")
