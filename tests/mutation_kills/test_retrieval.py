"""Retrieval quality (`_core/retrieval.py`) and reading retrieved documents
(`_core/documents.py`): exact attributes at the relevance thresholds (a best score exactly
at the threshold, one past it), several queries, queries without hits, the cap of recorded
ids and scores, id redaction, and every key a score, an id or a text is read from."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tripwire import semconv as sc
from tripwire._core.documents import Hit, as_number, read_document, read_documents
from tripwire._core.retrieval import (
    MAX_RECORDED_DOCUMENTS,
    document_json,
    retrieval_attributes,
)
from tripwire.runtime import replace_settings

SIM = sc.SCORE_KIND_SIMILARITY
DIST = sc.SCORE_KIND_DISTANCE
LOW = sc.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE


def hits(*scores: float | None) -> list[Hit]:
    return [Hit(id=f"d{i}", score=s) for i, s in enumerate(scores)]


# --- retrieval_attributes ------------------------------------------------------------------


def test_no_query_and_a_query_without_hits_are_empty() -> None:
    for no_hits in ([], [[]], [[], []]):
        assert retrieval_attributes(no_hits, SIM) == {
            sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: 0, sc.TRIPWIRE_RETRIEVAL_EMPTY: True}


def test_hits_of_several_queries_are_counted_and_listed_in_order() -> None:
    attrs = retrieval_attributes([[Hit("a", 0.9), Hit("b", 0.8)], [], [Hit("c", 0.7)]], SIM)
    assert attrs == {
        sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: 3, sc.TRIPWIRE_RETRIEVAL_EMPTY: False,
        sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS: ["a", "b", "c"],
        sc.TRIPWIRE_RETRIEVAL_SCORES: [0.9, 0.8, 0.7],
        sc.TRIPWIRE_RETRIEVAL_SCORE_KIND: SIM, LOW: False,
    }


def test_ids_as_text_and_a_missing_id_as_empty_text() -> None:
    attrs = retrieval_attributes([[Hit(None, 0.9), Hit(7, 0.8), Hit("x", 0.7)]], SIM)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["", "7", "x"]


def test_no_ids_recorded_when_no_hit_has_one() -> None:
    attrs = retrieval_attributes([[Hit(None, 0.9), Hit(None, 0.8)]], SIM)
    assert sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS not in attrs
    assert attrs[sc.TRIPWIRE_RETRIEVAL_SCORES] == [0.9, 0.8]


def test_scores_only_when_every_hit_has_one() -> None:
    attrs = retrieval_attributes([[Hit("a", 0.9)], [Hit("b", None)]], SIM)
    assert attrs == {
        sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: 2, sc.TRIPWIRE_RETRIEVAL_EMPTY: False,
        sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS: ["a", "b"],
    }


def test_scores_as_numbers() -> None:
    attrs = retrieval_attributes([[Hit("a", 1), Hit("b", "0.25")]], SIM)  # type: ignore[arg-type]
    assert attrs[sc.TRIPWIRE_RETRIEVAL_SCORES] == [1.0, 0.25]
    assert all(type(s) is float for s in attrs[sc.TRIPWIRE_RETRIEVAL_SCORES])


def test_no_kind_no_relevance_verdict() -> None:
    attrs = retrieval_attributes([[Hit("a", 0.1)]], None)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_SCORES] == [0.1]
    assert sc.TRIPWIRE_RETRIEVAL_SCORE_KIND not in attrs and LOW not in attrs


@pytest.mark.parametrize("count", [MAX_RECORDED_DOCUMENTS, MAX_RECORDED_DOCUMENTS + 1, 300])
def test_ids_and_scores_capped_the_count_is_not(count: int) -> None:
    assert MAX_RECORDED_DOCUMENTS == 256
    # Split over two queries: the cap is over the retrieval, not per query.
    flat = [Hit(f"d{i}", i / 1000) for i in range(count)]
    attrs = retrieval_attributes([flat[:200], flat[200:]], SIM)
    kept = min(count, 256)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == count
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == [f"d{i}" for i in range(kept)]
    assert attrs[sc.TRIPWIRE_RETRIEVAL_SCORES] == [i / 1000 for i in range(kept)]


def test_an_id_past_the_cap_does_not_make_ids_recorded() -> None:
    flat = [Hit(None, 0.9)] * 256 + [Hit("late", 0.9)]
    attrs = retrieval_attributes([flat], SIM)
    assert sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS not in attrs
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 257


def test_ids_unredacted_without_redaction() -> None:
    attrs = retrieval_attributes([[Hit("jane@example.com", 0.9)]], SIM)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["jane@example.com"]


def test_ids_redacted_by_the_configured_patterns() -> None:
    replace_settings(content_redaction=("email",))
    attrs = retrieval_attributes(
        [[Hit("jane@example.com", 0.9), Hit("doc-2", 0.8), Hit("a@b.io and c@d.io", 0.7)]], SIM)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == [
        "[REDACTED:email]", "doc-2", "[REDACTED:email] and [REDACTED:email]"]


def test_ids_redacted_by_the_redactor_alone() -> None:
    replace_settings(content_redaction=(), redactor=lambda text: text.upper())
    attrs = retrieval_attributes([[Hit("doc-1", 0.9), Hit(None, 0.8)]], SIM)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["DOC-1", ""]


def test_ids_redacted_by_patterns_then_the_redactor() -> None:
    replace_settings(content_redaction=("email",), redactor=lambda text: f"<{text}>")
    attrs = retrieval_attributes([[Hit("jane@example.com", 0.9)]], SIM)
    assert attrs[sc.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] == ["<[REDACTED:email]>"]


# --- low relevance at the thresholds (defaults: similarity 0.5, distance 1.0) -------------


@pytest.mark.parametrize(("scores", "low"), [
    ((0.5,), False),            # exactly the threshold: relevant enough
    ((0.4999,), True),
    ((0.2, 0.5), False),        # the best hit counts, not the worst
    ((0.2, 0.3), True),
    ((0.9, 0.1), False),
])
def test_similarity_threshold(scores: tuple[float, ...], low: bool) -> None:
    assert retrieval_attributes([hits(*scores)], SIM)[LOW] is low


@pytest.mark.parametrize(("scores", "low"), [
    ((1.0,), False),            # exactly the threshold: near enough
    ((1.0001,), True),
    ((1.5, 1.0), False),        # the nearest hit counts, not the farthest
    ((1.5, 1.2), True),
    ((0.1, 1.9), False),
])
def test_distance_threshold(scores: tuple[float, ...], low: bool) -> None:
    assert retrieval_attributes([hits(*scores)], DIST)[LOW] is low


def test_configured_thresholds_are_read() -> None:
    replace_settings(retrieval_min_similarity=0.8, retrieval_max_distance=0.3)
    assert retrieval_attributes([hits(0.8)], SIM)[LOW] is False
    assert retrieval_attributes([hits(0.79)], SIM)[LOW] is True
    assert retrieval_attributes([hits(0.3)], DIST)[LOW] is False
    assert retrieval_attributes([hits(0.31)], DIST)[LOW] is True


@pytest.mark.parametrize("kind", [SIM, DIST])
def test_any_query_past_the_threshold_is_low_relevance(kind: str) -> None:
    good, bad = (0.9, 0.1) if kind == SIM else (0.1, 1.9)
    assert retrieval_attributes([hits(good), hits(good)], kind)[LOW] is False
    assert retrieval_attributes([hits(good), hits(bad)], kind)[LOW] is True
    assert retrieval_attributes([hits(bad), hits(good)], kind)[LOW] is True
    # A query without hits is skipped, not the end of the check, nor low relevance itself.
    assert retrieval_attributes([[], hits(bad)], kind)[LOW] is True
    assert retrieval_attributes([[], hits(good)], kind)[LOW] is False
    assert retrieval_attributes([hits(good), []], kind)[LOW] is False


# --- document_json --------------------------------------------------------------------------


def test_document_json() -> None:
    assert document_json(Hit()) == {}
    assert document_json(Hit(id=7, score=0.0, content="")) == {"id": "7", "score": 0.0,
                                                                "content": ""}
    assert document_json(Hit(id="a")) == {"id": "a"}
    assert document_json(Hit(score=0.5)) == {"score": 0.5}
    assert document_json(Hit(content="text")) == {"content": "text"}


# --- documents.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "number"), [
    (None, None), (True, None), (False, None), (float("nan"), None), ("nan", None),
    ("abc", None), (object(), None), ([1], None),
    (0, 0.0), (3, 3.0), ("0.25", 0.25), (1.5, 1.5), (-2, -2.0),
])
def test_as_number(value: Any, number: float | None) -> None:
    got = as_number(value)
    assert got == number and type(got) is type(number)


def test_a_pair_of_document_and_score_is_a_similarity() -> None:
    doc = SimpleNamespace(id="d1", page_content="text", metadata={"distance": 0.9})
    assert read_document((doc, 0.42)) == (Hit("d1", 0.42, "text"), SIM)
    assert read_document(("plain text", "0.5")) == (Hit(None, 0.5, "plain text"), SIM)
    assert read_document(({"id": 3, "text": "t"}, 1)) == (Hit(3, 1.0, "t"), SIM)


def test_tuples_that_are_not_document_score_pairs() -> None:
    # Two numbers (a vector), a non-number second item, three items: no score read.
    assert read_document((0.1, 0.2)) == (Hit(), None)
    assert read_document((1, 0.2)) == (Hit(), None)
    assert read_document(("text", "far")) == (Hit(), None)
    assert read_document(("text", 0.2, 0.3)) == (Hit(), None)
    assert read_document(("text", True)) == (Hit(), None)


def test_id_from_the_item_then_its_metadata() -> None:
    assert read_document({"id": "top", "metadata": {"id": "meta"}})[0].id == "top"
    assert read_document({"id": None, "metadata": {"id": "meta"}})[0].id == "meta"
    assert read_document(SimpleNamespace(metadata={"id": "meta"}))[0].id == "meta"
    assert read_document(SimpleNamespace(id=0, metadata={"id": "meta"}))[0].id == 0
    assert read_document({"metadata": "not a mapping", "id": "x"})[0].id == "x"
    assert read_document({"metadata": ["id"]})[0].id is None
    # Metadata that is not a mapping is not read, whatever attributes it has.
    odd = SimpleNamespace(id="odd", score=0.9, distance=0.1)
    assert read_document({"metadata": odd}) == (Hit(), None)
    assert read_document(SimpleNamespace(metadata=odd, text="t")) == (Hit(content="t"), None)


@pytest.mark.parametrize("key", ["score", "relevance_score", "similarity_score", "similarity"])
def test_every_similarity_key(key: str) -> None:
    assert read_document({key: 0.3}) == (Hit(None, 0.3, None), SIM)
    assert read_document(SimpleNamespace(**{key: 0.3})) == (Hit(None, 0.3, None), SIM)
    assert read_document({"metadata": {key: "0.3"}}) == (Hit(None, 0.3, None), SIM)


def test_distance_key() -> None:
    assert read_document({"distance": 0.7}) == (Hit(None, 0.7, None), DIST)
    assert read_document({"metadata": {"distance": 0}}) == (Hit(None, 0.0, None), DIST)


def test_which_score_wins() -> None:
    # A distance before a similarity in the same place; the item's own before its metadata.
    assert read_document({"score": 0.3, "distance": 0.7}) == (Hit(None, 0.7, None), DIST)
    assert read_document({"score": 0.3, "metadata": {"distance": 0.7}}) == \
        (Hit(None, 0.3, None), SIM)
    assert read_document({"distance": 0.7, "metadata": {"score": 0.3}}) == \
        (Hit(None, 0.7, None), DIST)
    # The first similarity key in order; a None one is skipped.
    assert read_document({"similarity": 0.1, "score": 0.2, "relevance_score": 0.3}) == \
        (Hit(None, 0.2, None), SIM)
    assert read_document({"score": None, "relevance_score": 0.3}) == (Hit(None, 0.3, None), SIM)
    # A score that is no number is no score: the next place is read.
    assert read_document({"distance": "far", "score": 0.4}) == (Hit(None, 0.4, None), SIM)
    assert read_document({"score": "high", "metadata": {"score": 0.6}}) == \
        (Hit(None, 0.6, None), SIM)
    assert read_document({"distance": True, "metadata": {"distance": 0.6}}) == \
        (Hit(None, 0.6, None), DIST)
    assert read_document({"score": "high"}) == (Hit(), None)


@pytest.mark.parametrize("key", ["page_content", "content", "text", "document"])
def test_every_content_key(key: str) -> None:
    assert read_document({key: "body"})[0].content == "body"
    assert read_document(SimpleNamespace(**{key: "body"}))[0].content == "body"


def test_content_key_order_and_plain_text() -> None:
    assert read_document({"document": "4", "text": "3", "content": "2",
                          "page_content": "1"})[0].content == "1"
    assert read_document({"document": "4", "text": "3", "content": None})[0].content == "3"
    assert read_document("just text") == (Hit(None, None, "just text"), None)
    assert read_document({"metadata": {"text": "meta"}})[0].content is None  # item's own only


def test_read_documents() -> None:
    assert read_documents(None) == ([], None)
    assert read_documents("one text") == ([Hit(content="one text")], None)
    assert read_documents(b"raw") == ([Hit()], None)
    assert read_documents({"id": "m", "score": 0.5}) == ([Hit("m", 0.5)], SIM)
    assert read_documents([]) == ([], None)
    got = read_documents([{"id": "a"}, {"id": "b", "distance": 0.2}, {"id": "c", "score": 0.9}])
    assert got == ([Hit("a"), Hit("b", 0.2), Hit("c", 0.9)], DIST)
    assert read_documents(({"score": 0.9}, {"distance": 0.2})) == \
        ([Hit(None, 0.9), Hit(None, 0.2)], SIM)
