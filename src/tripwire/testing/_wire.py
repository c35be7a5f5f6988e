"""Small helpers the fake servers share to build their wire bodies: ids, stream pieces."""

from __future__ import annotations

import itertools
import math
import re

#: A word and the whitespace around it (or whitespace alone): the pieces text streams in.
WORD_RE = re.compile(r"\s*\S+\s*|\s+")


def split_json(raw: str, pieces: int = 3) -> list[str]:
    """``raw`` (a JSON document) cut into ``pieces`` roughly equal fragments, as tool-call
    arguments stream."""
    size = max(1, math.ceil(len(raw) / pieces))
    return [raw[i : i + size] for i in range(0, len(raw), size)]


class PrefixedIds:
    """Call with a prefix for the next ``<prefix>_fake00000001``-style id. Each fake module
    keeps its own sequence, so its ids do not depend on what the other fakes issued."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._counter):08d}"
