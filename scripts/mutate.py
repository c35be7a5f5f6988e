"""Mutation testing of the code whose output users act on (docs/testing.md, "Mutation
testing"): `make mutate` runs every group below, `make mutate-sample` a fixed sample of it.

mutmut picks, for each mutant, the tests that ran its function; but every span passes
through every enricher, so with one test selection each enricher mutant would re-run
hundreds of unrelated tests. Each group therefore has its own module(s) and the tests
relevant to them, and runs in its own work directory (build/mutate/<group>, with its own
[tool.mutmut] section derived from pyproject.toml's). A run mutates a snapshot of src/
taken when it starts (build/mutate/SNAPSHOT.txt says which commit and which local edits).

Re-running resumes: mutants already checked keep their result unless their function changed
(mutmut's own bookkeeping); --fresh starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLS = "tests/mutation_kills"

# group -> (modules mutated, tests run, the functions in the sample (mutmut's names:
# module.x_function or module.xǁClassǁmethod)).
GROUPS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "refusal": (
        ["src/tripwire/processors/refusal.py"],
        [f"{KILLS}/test_refusal.py", "tests/processors/test_enrichers.py"],
        ["tripwire.processors.refusal.x__reply_texts__mutmut_*"],
    ),
    "context_window": (  # its one function has equivalent mutants: not in the sample
        ["src/tripwire/processors/context_window.py"],
        [f"{KILLS}/test_context_window.py", "tests/processors/test_enrichers.py"],
        [],
    ),
    "drift": (
        ["src/tripwire/processors/drift.py"],
        [f"{KILLS}/test_drift.py", "tests/processors/test_enrichers.py"],
        ["tripwire.processors.drift.x_looks_pinned__mutmut_*",
         "tripwire.processors.drift.x__model_of__mutmut_*"],
    ),
    "tool_loop": (
        ["src/tripwire/processors/tool_loop.py"],
        [f"{KILLS}/test_tool_loop.py", "tests/processors/test_enrichers.py",
         "tests/processors/test_tool_error_labels.py",
         "tests/processors/test_agent_tool_loops.py"],
        ["tripwire.processors.tool_loop.x__names__mutmut_*"],
    ),
    "budget": (
        ["src/tripwire/processors/budget.py", "src/tripwire/processors/ledger.py"],
        [f"{KILLS}/test_budget.py", f"{KILLS}/test_ledger.py", "tests/processors/test_budgets.py",
         "tests/processors/test_agent_budgets.py", "tests/hardening/test_reservations.py",
         "tests/budgets"],
        ["tripwire.processors.ledger.x_crossings__mutmut_*",
         "tripwire.processors.ledger.x_refusal__mutmut_*",
         "tripwire.processors.ledger.xǁInMemoryLedgerǁ_place__mutmut_*"],
    ),
    "redaction": (
        ["src/tripwire/_core/redaction.py"],
        [f"{KILLS}/test_redaction.py", "tests/core/test_redaction.py",
         "tests/hardening/test_secret_shapes.py"],
        ["tripwire._core.redaction.xǁ_EmailPatternǁsub__mutmut_*",
         "tripwire._core.redaction.x_redact__mutmut_*"],
    ),
    "wire": (
        ["src/tripwire/_core/wire/*.py"],
        ["tests/instrumentation/anthropic", f"{KILLS}/test_wire.py"],
        ["tripwire._core.wire.anthropic_messages.x_schema_finish__mutmut_*",
         "tripwire._core.wire.anthropic_messages.x__apply_stop__mutmut_*",
         "tripwire._core.wire.usage.x_usage_counts__mutmut_*",
         "tripwire._core.wire.usage.x_token_count__mutmut_*"],
    ),
    "stream": (
        ["src/tripwire/_core/stream.py"],
        ["tests/core/test_stream_proxy.py", f"{KILLS}/test_stream.py"],
        ["tripwire._core.stream.xǁStreamProxyǁ_self_done__mutmut_*",
         "tripwire._core.stream.xǁStreamProxyǁclose__mutmut_*"],
    ),
    "cost": (
        ["src/tripwire/processors/cost.py", "src/tripwire/processors/prices.py",
         "src/tripwire/processors/rollup.py"],
        [f"{KILLS}/test_prices.py", f"{KILLS}/test_overlay_file.py", f"{KILLS}/test_cost.py",
         "tests/processors/test_cost_and_rollup.py",
         "tests/processors/test_price_terms.py", "tests/processors/test_metric_tables.py",
         "tests/processors/test_agent_metrics.py"],
        ["tripwire.processors.prices.xǁOverlayEntryǁcost__mutmut_*"],
    ),
    "openai": (
        ["src/tripwire/instrumentation/openai/common.py",
         "src/tripwire/instrumentation/openai/chat.py",
         "src/tripwire/instrumentation/openai/responses.py",
         "src/tripwire/instrumentation/openai/embeddings.py"],
        [f"{KILLS}/test_openai.py", "tests/instrumentation/openai"],
        ["tripwire.instrumentation.openai.responses.x__finish_reason__mutmut_*"],
    ),
    "retrieval": (
        ["src/tripwire/_core/retrieval.py", "src/tripwire/_core/documents.py"],
        # No test that runs chromadb (tests/instrumentation/chromadb, the LangChain retriever
        # tests): after mutmut's fork its threads spin until the CPU limit, so a surviving
        # mutant would count as a timeout (killed).
        [f"{KILLS}/test_retrieval.py", "tests/instrumentation/qdrant"],
        ["tripwire._core.retrieval.x__low_relevance__mutmut_*",
         "tripwire._core.documents.x_as_number__mutmut_*"],
    ),
    "google_genai": (
        ["src/tripwire/instrumentation/google_genai/common.py",
         "src/tripwire/instrumentation/google_genai/generate.py",
         "src/tripwire/instrumentation/google_genai/embeddings.py"],
        [f"{KILLS}/test_google_genai.py", "tests/instrumentation/google_genai"],
        ["tripwire.instrumentation.google_genai.generate.x__usage__mutmut_*",
         "tripwire.instrumentation.google_genai.generate.x__refusal__mutmut_*"],
    ),
    "bedrock": (
        ["src/tripwire/instrumentation/bedrock/common.py",
         "src/tripwire/instrumentation/bedrock/families.py",
         "src/tripwire/instrumentation/bedrock/converse.py",
         "src/tripwire/instrumentation/bedrock/invoke.py"],
        [f"{KILLS}/test_bedrock.py", "tests/instrumentation/bedrock"],
        ["tripwire.instrumentation.bedrock.common.x_schema_finish__mutmut_*",
         "tripwire.instrumentation.bedrock.common.x_mark_refusal__mutmut_*",
         "tripwire.instrumentation.bedrock.common.x_guardrail_category__mutmut_*"],
    ),
}

# What the sample runs besides the group's tests in tests/mutation_kills.
SAMPLE_TESTS = {"wire": ["tests/instrumentation/anthropic/test_finish_reasons.py"]}


def _config(pyproject: str, files: list[str], tests: list[str]) -> str:
    """pyproject.toml with its [tool.mutmut] section narrowed to one group."""
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    found = re.search(r"^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", pyproject, re.S | re.M)
    if found is None:
        raise SystemExit("pyproject.toml has no [tool.mutmut] section")
    section = found.group(0)
    section = re.sub(r"^only_mutate = \[.*?\]\n", f"only_mutate = {toml_list(files)}\n",
                     section, flags=re.S | re.M)
    section = re.sub(r"^pytest_add_cli_args_test_selection = \[.*?\]\n",
                     f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n",
                     section, flags=re.S | re.M)
    return pyproject[:found.start()] + section + pyproject[found.end():]


def _snapshot(work: Path) -> Path:
    """src/ and tests/ as they are now, and a note of which commit and edits they are."""
    snap = work / "snapshot"
    shutil.rmtree(snap, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, snap / part, ignore=ignore)
    note = [time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())]
    for args in (["rev-parse", "HEAD"], ["status", "--short", "src", "tests"]):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        note.append(done.stdout.strip() if done.returncode == 0 else "(not a git checkout)")
    (work / "SNAPSHOT.txt").write_text("\n".join(note) + "\n")
    return snap


def _sync(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` keeping modification times (mutmut re-mutates a file
    only when its source is newer than its mutants)."""
    for path in source.rglob("*"):
        if path.is_file():
            dest = target / path.relative_to(source)
            if not dest.exists() or dest.read_bytes() != path.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)


def _survivors(group_dir: Path) -> list[str]:
    """The mutants of an earlier run that survived or had no test (to check them again)."""
    return sorted(key for meta in (group_dir / "mutants").rglob("*.py.meta")
                  for key, code in json.loads(meta.read_text())["exit_code_by_key"].items()
                  if code in (0, 5, 33))


def run_group(name: str, snap: Path, work: Path, *, sample: bool, jobs: str,
              recheck: bool = False) -> tuple[int, float]:
    files, tests, sampled = GROUPS[name]
    if sample:  # the focused tests only: the sample is about time
        tests = [t for t in tests if t.startswith(KILLS)] + SAMPLE_TESTS.get(name, [])
    missing = [t for t in tests if not (snap / t).exists()]
    if missing:  # a test file renamed or not there yet: run the others, and say so
        print(f"    {name}: no {', '.join(missing)} in this checkout", flush=True)
        tests = [t for t in tests if t not in missing]
    group_dir = work / name
    group_dir.mkdir(parents=True, exist_ok=True)
    _sync(snap, group_dir)
    (group_dir / "pyproject.toml").write_text(
        _config((ROOT / "pyproject.toml").read_text(), files, tests))
    mutmut = Path(sys.executable).parent / "mutmut"
    names = sampled if sample else []
    if recheck:  # mutmut keeps earlier results unless a mutant is named
        names = _survivors(group_dir)
        if not names:
            print(f"==> mutate {name}: no survivors to check again", flush=True)
            return 0, 0.0
    started = time.monotonic()
    print(f"==> mutate {name}: {' '.join(files)}", flush=True)
    done = subprocess.run([str(mutmut), "run", "--max-children", jobs, *names], cwd=group_dir,
                          stdout=subprocess.DEVNULL if not os.environ.get("MUTATE_VERBOSE")
                          else None)
    elapsed = time.monotonic() - started
    print(f"    {name}: {elapsed:.0f} s (mutmut exit {done.returncode})", flush=True)
    return done.returncode, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--sample", action="store_true",
                        help="only the sampled functions of each group (what CI could run)")
    parser.add_argument("--fresh", action="store_true",
                        help="forget earlier results (of the groups named, else of all); "
                             "needed after a function is added or renamed, which mutmut "
                             "would otherwise report as having no tests")
    parser.add_argument("--recheck", action="store_true",
                        help="check the earlier survivors again (after adding tests)")
    parser.add_argument("--jobs", default=os.environ.get("MUTATE_JOBS", "2"),
                        help="mutants tested at once (default 2, or $MUTATE_JOBS)")
    parser.add_argument("--work", type=Path, default=None,
                        help="work directory (default build/mutate, build/mutate-sample); "
                             "separate runs at once need separate ones")
    parser.add_argument("--min", type=float, default=None,
                        help="fail when a group's score is below this percentage")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    work = args.work or ROOT / "build" / ("mutate-sample" if args.sample else "mutate")
    if args.sample or (args.fresh and not args.groups):
        shutil.rmtree(work, ignore_errors=True)
    elif args.fresh:  # only the groups named: the others' results stay
        for name in args.groups:
            shutil.rmtree(work / name, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    snap = _snapshot(work)
    failed = 0
    total = 0.0
    for name in args.groups or list(GROUPS):
        if args.sample and not GROUPS[name][2]:
            continue  # nothing of this group in the sample
        code, elapsed = run_group(name, snap, work, sample=args.sample, jobs=args.jobs,
                                  recheck=args.recheck)
        failed |= code
        total += elapsed
    print(f"==> mutation testing took {total:.0f} s", flush=True)
    scores = [sys.executable, str(ROOT / "scripts" / "mutation_scores.py"), "--survivors"]
    if args.min is not None:
        scores += ["--min", str(args.min)]
    roots = [str(work / name / "mutants") for name in args.groups or list(GROUPS)
             if (work / name / "mutants").exists()]
    shown = subprocess.run([*scores, *roots])
    return failed or shown.returncode


if __name__ == "__main__":
    sys.exit(main())
