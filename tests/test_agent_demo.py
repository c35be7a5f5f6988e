"""``make demo-agent``: examples/agent_demo.py runs offline and its trace trees show the agent
spans, each run's cost and steps, the loop caught and the budget stopping the runaway run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents")

DEMO = Path(__file__).resolve().parents[1] / "examples" / "agent_demo.py"


def test_agent_demo_output() -> None:
    done = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    good, loop, runaway = out.split("=== ")[1:]
    # 1. agent spans with each run's cost and steps; the handoff is to the specialist
    assert "├─ invoke_agent triage" in good and "└─ invoke_agent billing" in good
    assert "run cost $0.000244 · 5 steps (3 LLM calls, 2 tool calls)" in good
    assert "invoke_workflow Agent workflow" in good and "⚠" not in good
    assert "agent: Order 1234 (42.00 EUR) is being refunded." in good
    # 2. the loop, on the tool spans and on the run
    assert "TOOL LOOP IN RUN (x4)" in loop
    assert loop.count("execute_tool lookup_order  ") == 4
    assert loop.count("⚠ TOOL LOOP\n") == 2  # the 3rd and 4th identical lookups
    # 3. the runaway run: refused before its 8th model call
    assert "stopped: budget 'agent_run' exhausted" in runaway
    assert "(scope agent)" in runaway
    billing = next(line for line in runaway.splitlines() if "invoke_agent billing" in line)
    assert "BUDGET EXCEEDED (agent_run, limit $0.010000)" in billing
    assert "7 LLM calls" in billing
    assert "model calls sent: 18" in out
    assert "Error getting response" not in done.stderr
