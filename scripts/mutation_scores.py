"""Per-module mutation scores from mutmut's results in mutants/ (`make mutate` prints them).

score = killed / (killed + survived + no tests), over the mutants that were run; timeouts
count as killed (the mutant hung the tests: caught), as mutmut's own badge counts them.
Each surviving mutant is listed by name: `mutmut show NAME` prints its diff.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, -24, 24, 152, 255, 37}  # killed, pytest error, timeouts, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("roots", nargs="*", default=["mutants"],
                        help="mutmut work directories (default: mutants)")
    parser.add_argument("--min", type=float, default=None,
                        help="exit 1 when a module that was run scores below this (percent)")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = parser.parse_args(argv)
    rows = []
    survivors: list[str] = []
    metas = [(root, meta) for root in map(Path, args.roots)
             for meta in sorted(root.rglob("*.py.meta"))]
    for root, meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter()
        for name, code in codes.items():
            if code is None:
                counts["not run"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                survivors.append(name)
            elif code in NO_TESTS:
                counts["no tests"] += 1
                survivors.append(name)
            else:
                counts["other"] += 1
        ran = counts["killed"] + counts["survived"] + counts["no tests"]
        if not ran:
            continue
        module = str(meta.relative_to(root))[: -len(".meta")]
        rows.append((module, ran, counts, 100.0 * counts["killed"] / ran))
    if not rows:
        print("no mutation results: run `make mutate` first", file=sys.stderr)
        return 1
    print(f"{'module':<48} {'run':>5} {'killed':>6} {'surv.':>5} {'no t.':>5} {'score':>7}")
    for module, ran, counts, score in rows:
        print(f"{module:<48} {ran:>5} {counts['killed']:>6} {counts['survived']:>5} "
              f"{counts['no tests']:>5} {score:>6.1f}%")
    if args.survivors:
        print()
        print("\n".join(sorted(survivors)))
    if args.min is not None and any(score < args.min for *_, score in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
