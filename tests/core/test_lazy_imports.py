"""What importing an instrumentor costs: nothing it does not need yet (issue 20's import
goal). The OpenTelemetry SDK, RE2, genai-prices, tokenizers and the provider SDK are imported
when first used, not by ``import tripwire.instrumentation.openai``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("opentelemetry.sdk", "re2", "genai_prices", "tiktoken", "openai", "yaml")

_PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {roots!r}
                        or m.startswith("opentelemetry.sdk"))))
"""


@pytest.mark.parametrize("module", ["tripwire", "tripwire.instrumentation.openai",
                                    "tripwire.instrumentation.anthropic"])
def test_importing_pulls_in_nothing_heavy(module: str) -> None:
    roots = tuple(h for h in HEAVY if "." not in h)
    done = subprocess.run([sys.executable, "-c", _PROBE.format(module=module, roots=roots)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
