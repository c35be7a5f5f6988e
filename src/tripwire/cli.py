"""``tripwire`` command line: check the set-up, list the settings."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

from tripwire.settings import _SPECS
from tripwire.version import __version__

_MARKERS = {"error": "✗", "warning": "!", "info": "✓"}
_ASCII_MARKERS = {"error": "x", "warning": "!", "info": "+"}
_ORDER = {"error": 0, "warning": 1, "info": 2}


def settings_table() -> str:
    rows = ["| variable | accepted values | what it does |", "|---|---|---|"]
    for spec in _SPECS:
        if spec.env:
            rows.append(f"| `{spec.env}` | {spec.accepted} | {spec.doc} |")
    return "\n".join(rows)


def _markers(stream: IO[str]) -> dict[str, str]:
    # A terminal that cannot print ✗/✓ (LANG=C on an old Python) gets ASCII markers.
    try:
        "".join(_MARKERS.values()).encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return _ASCII_MARKERS
    return _MARKERS


def check(*, strict: bool = False, as_json: bool = False, stream: IO[str] | None = None) -> int:
    """Run every check on this process's environment and print one line per finding, errors
    first. Exit status: 1 on errors (or on warnings with ``strict``), else 0."""
    from tripwire._core.environment import check_environment

    out = stream or sys.stdout
    findings = sorted(check_environment(), key=lambda f: _ORDER[f.severity.value])
    errors = sum(f.severity.value == "error" for f in findings)
    warnings = sum(f.severity.value == "warning" for f in findings)
    status = 1 if errors or (strict and warnings) else 0
    if as_json:
        json.dump({"ok": status == 0, "errors": errors, "warnings": warnings,
                   "findings": [{"severity": f.severity.value, "subject": f.subject,
                                 "message": f.message, "fix": f.fix} for f in findings]},
                  out, indent=2)
        out.write("\n")
        return status
    markers = _markers(out)
    for f in findings:
        line = f"{markers[f.severity.value]} {f.subject}: {f.message}"
        if f.fix:
            line += f" → {f.fix}" if markers is _MARKERS else f" -> {f.fix}"
        out.write(line + "\n")
    summary = (f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
               if errors or warnings else "ok")
    out.write(f"tripwire check: {summary}"
              + (" (--strict: warnings fail)" if strict and warnings and not errors else "")
              + "\n")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tripwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check_parser = sub.add_parser(
        "check", help="check TRIPWIRE_* / OTEL_* settings, exporters, sampler, distros and "
                      "instrumentors in this environment")
    check_parser.add_argument("--strict", action="store_true",
                              help="exit non-zero on warnings too")
    check_parser.add_argument("--json", action="store_true", dest="as_json",
                              help="print the findings as JSON")
    sub.add_parser("settings", help="print the settings table (Markdown)")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
    elif args.command == "settings":
        print(settings_table())
    else:
        return check(strict=args.strict, as_json=args.as_json)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
