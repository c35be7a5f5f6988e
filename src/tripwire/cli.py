"""``tripwire`` command line: check the configuration, list the settings."""

from __future__ import annotations

import argparse
import sys

from tripwire.errors import ConfigError
from tripwire.pipeline import file_errors
from tripwire.settings import _SPECS, load_settings
from tripwire.version import __version__


def settings_table() -> str:
    rows = ["| variable | accepted values | what it does |", "|---|---|---|"]
    for spec in _SPECS:
        if spec.env:
            rows.append(f"| `{spec.env}` | {spec.accepted} | {spec.doc} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tripwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate TRIPWIRE_* / OTEL_* settings in the environment")
    sub.add_parser("settings", help="print the settings table (Markdown)")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
    elif args.command == "settings":
        print(settings_table())
    else:
        errors: list[ConfigError] = []
        settings = load_settings(strict=False, errors=errors)
        errors += file_errors(settings).values()  # loaded exactly as configure() loads them
        for exc in errors:
            print(f"error: {exc}", file=sys.stderr)
        if errors:
            return 1
        print(f"ok: content capture {settings.capture_content.value}, "
              f"budget mode {settings.budget_mode.value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
