"""What tripwire costs, measured on the real provider SDKs over in-process mock transports.

Sections (``--only``; all by default), each in its own module:

imports      imports.py     import and ``instrument()`` time, fresh interpreters
overhead     overhead.py    µs added per call and per stream chunk on the real SDKs, A/B
isolated     overhead.py    our wrapper alone, with the SDK's share of it (enrichment.py)
enrichment   enrichment.py  the EnrichingSpanProcessor alone, per span
memory       memory.py      RSS and retained objects over ``--spans`` spans and SDK calls
budget-store budget_store.py  the enforce-mode gate per call: in memory and on Redis
redaction    redaction.py   redaction MB/s on prose and adversarial inputs; a 1 MB prompt
agents       agents.py      µs per agent step (processor) and per LangGraph superstep

The timing, A/B rounds, floor and table printing are in harness.py; the targets are the
table in docs/performance.md (targets.py reads it). ``--check`` exits 1 when a target is
missed. Results print as tables and are written to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import harness
import targets
from agents import print_agents, run_agents
from budget_store import print_budget_store, run_budget_store
from enrichment import print_enrichment, run_enrichment
from imports import print_imports, run_imports
from memory import print_memory, run_memory
from overhead import print_isolated, print_overhead, run_isolated, run_overhead
from redaction import print_redaction, run_redaction
from sampling import print_sampling, run_sampling

# name -> (run with the parsed arguments, print)
SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], Any], Callable[[Any], None]]] = {
    "imports": (lambda a: run_imports(3 if a.quick else 7), print_imports),
    "overhead": (lambda a: run_overhead(a.rounds, a.calls, a.stream_calls), print_overhead),
    "isolated": (lambda a: run_isolated(max(a.rounds, 20), a.calls * 4), print_isolated),
    "enrichment": (lambda a: run_enrichment(max(a.rounds // 2, 3), 2000), print_enrichment),
    "memory": (lambda a: run_memory(a.spans, a.sdk_calls), print_memory),
    "budget-store": (lambda a: run_budget_store(2000 if a.quick else 20000), print_budget_store),
    "redaction": (lambda a: run_redaction(2 if a.quick else 5), print_redaction),
    "sampling": (lambda a: run_sampling(max(a.rounds, 5), a.calls), print_sampling),
    "agents": (lambda a: run_agents(max(a.rounds // 2, 3), 20 if a.quick else 100),
               print_agents),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="A/B rounds (overhead)")
    parser.add_argument("--calls", type=int, default=50, help="calls per block")
    parser.add_argument("--stream-calls", type=int, default=4,
                        help="200-chunk streams per block")
    parser.add_argument("--spans", type=int, default=1_000_000,
                        help="spans through the processor for the memory section")
    parser.add_argument("--sdk-calls", type=int, default=2000,
                        help="instrumented SDK calls for the memory section")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--clock", choices=tuple(harness.CLOCKS), default="cpu",
                        help="process CPU time (default; robust on a shared machine) or wall")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 rounds, 50,000 spans, 500 SDK calls")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a target of docs/performance.md is missed")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.spans, args.sdk_calls = 4, 50_000, 500
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from "
                     + ", ".join(SECTIONS))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    goals = targets.load()  # before minutes of measuring: a broken table fails at once
    harness.set_clock(args.clock)
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": harness.machine(),
                              "args": {k: v for k, v in vars(args).items() if k != "sections"}}
    print(f"machine: {result['machine']}")
    for name, (run, show) in SECTIONS.items():
        if name in args.sections:
            result[name] = run(args)
            show(result[name])
    result["targets"] = targets.evaluate(goals, result)
    targets.print_targets(result["targets"], args.check)
    result["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"\ntotal {result['seconds']} s; written to {args.json}")
    return 1 if args.check and targets.failed(result["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
