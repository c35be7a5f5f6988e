"""The processors' harness (a real SDK TracerProvider wrapped by the enricher), shared with
tests/processors: the tests here pin the exact outputs mutation testing found unchecked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from processors.conftest import Harness, harness
from tripwire.processors.drift import is_floating_alias

__all__ = ["Harness", "harness"]


@pytest.fixture(autouse=True)
def _no_memoized_answers() -> Iterator[None]:
    """is_floating_alias is memoized per process: a mutant of what it calls must not be
    hidden by an answer the unmutated code memoized earlier in the same process."""
    is_floating_alias.cache_clear()
    yield
    is_floating_alias.cache_clear()
