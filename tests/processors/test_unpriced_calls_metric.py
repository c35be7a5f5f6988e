"""Unknown is never zero in metrics (#17): a call that cannot be priced adds nothing to
``tripwire.cost`` and one point to ``tripwire.unpriced_calls``, with the reason."""

from __future__ import annotations

import pytest

from tripwire import semconv

from .conftest import Harness


def test_unpriced_calls_are_counted_by_reason_and_add_no_cost(harness: Harness) -> None:
    harness.llm("gpt-4o", input_tokens=1000, output_tokens=100)  # priced
    harness.llm("private-model-1", input_tokens=10, output_tokens=10)  # unknown model
    harness.llm("private-model-1", input_tokens=20, output_tokens=5)
    harness.llm("gpt-4o", input_tokens=None, output_tokens=None)  # no usage reported
    points = harness.points(semconv.METRIC_UNPRICED_CALLS)
    by_reason = {(a[semconv.GEN_AI_REQUEST_MODEL], a[semconv.TRIPWIRE_COST_UNPRICED_REASON]): v
                 for a, v in points}
    assert by_reason == {("private-model-1", "unknown_model"): 2,
                         ("gpt-4o", "unknown_usage"): 1}
    cost = harness.points(semconv.METRIC_COST)
    assert [a[semconv.GEN_AI_REQUEST_MODEL] for a, _ in cost] == ["gpt-4o"]
    assert cost[0][1] == pytest.approx(0.0035)
