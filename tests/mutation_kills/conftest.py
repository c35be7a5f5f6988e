"""The processors' harness (a real SDK TracerProvider wrapped by the enricher), shared with
tests/processors: the tests here pin the exact outputs mutation testing found unchecked."""

from __future__ import annotations

from processors.conftest import Harness, harness

__all__ = ["Harness", "harness"]
