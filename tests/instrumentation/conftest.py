"""Every instrumentation test starts from default settings (environment ignored; fixture in
tests/conftest.py). The LLM providers' ``env`` fixtures then re-read the environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tripwire._core.precall import PreCallInfo
from tripwire.runtime import Runtime


@pytest.fixture(autouse=True)
def _fresh_settings(default_settings):
    return default_settings


@pytest.fixture
def budget_gate(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[PreCallInfo], None]], None]:
    """Replace the runtime's budget gate by ``check`` for this test (attached, as when an
    enriching processor with budgets is alive): what the wrapper does when the gate refuses."""

    def install(check: Callable[[PreCallInfo], None]) -> None:
        monkeypatch.setattr(Runtime, "enforcing", property(lambda self: True))
        monkeypatch.setattr(Runtime, "before_call", lambda self, info: check(info))

    return install


@pytest.fixture
def instrumented(request: pytest.FixtureRequest, tracer_provider: Any,
                 meter_provider: Any) -> Iterator[Any]:
    """The test module's ``INSTRUMENTOR`` installed on the test's providers (the tripwire
    pytest plugin's ``tracer_provider`` / ``meter_provider``), uninstalled afterwards."""
    inst = request.module.INSTRUMENTOR()
    inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield inst
    inst.uninstrument()
