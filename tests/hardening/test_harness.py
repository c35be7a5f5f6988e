"""The harness never hides a provider: a broken import of our own instrumentor fails the
run, and only a missing provider SDK may skip a case."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from hardening.harness import LLM_CASES, OPENAI, Pipeline, find_instrumentor, instrumented
from tripwire._core.instrumentor import TripwireInstrumentor


def _break_import(monkeypatch: pytest.MonkeyPatch, module_name: str) -> None:
    real = importlib.import_module

    def import_module(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == module_name:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", import_module)


@pytest.mark.parametrize("case", LLM_CASES, ids=[c.name for c in LLM_CASES])
def test_every_case_has_its_instrumentor(case: Any) -> None:
    cls = case.instrumentor_class
    assert issubclass(cls, TripwireInstrumentor) and cls is not TripwireInstrumentor
    assert cls.__module__.startswith(case.instrumentor_module)


def test_broken_instrumentor_import_raises_not_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_import(monkeypatch, OPENAI.instrumentor_module)
    with pytest.raises(BaseException) as raised:
        find_instrumentor(OPENAI.instrumentor_module, OPENAI.sdk)
    assert type(raised.value) is ModuleNotFoundError, type(raised.value)
    assert raised.value.name == OPENAI.instrumentor_module


def test_broken_instrumentor_import_fails_the_matrix(monkeypatch: pytest.MonkeyPatch,
                                                    pipeline: Pipeline) -> None:
    _break_import(monkeypatch, OPENAI.instrumentor_module)
    with pytest.raises(BaseException) as raised, instrumented(OPENAI, pipeline):
        pass
    assert isinstance(raised.value, ImportError), type(raised.value)


def test_module_without_an_instrumentor_fails() -> None:
    with pytest.raises(AssertionError, match="defines no TripwireInstrumentor"):
        find_instrumentor("tripwire.semconv", "openai")


def test_only_a_missing_provider_sdk_skips() -> None:
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        find_instrumentor(OPENAI.instrumentor_module, "no_such_provider_sdk_0xdead")
