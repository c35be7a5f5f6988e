"""Token counts in the convention Anthropic and Amazon Bedrock share: the input count leaves
the cache reads and writes out, while ``gen_ai.usage.input_tokens`` includes them."""

from __future__ import annotations

from typing import Any

from tripwire._core.fields import plausible_count
from tripwire._core.invocation import Result


def token_count(value: Any) -> Any:
    """A token count: its digits as a string (HTTP headers) read as an int; None stays None;
    anything else is passed on as it came, for the core to drop and flag
    (``tripwire.usage.invalid``) when it is not a count."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)  # (ASCII: int() refuses '²'; short: no 4,300-digit conversion)
    return value


def usage_counts(fresh_input: Any, output: Any, cache_read: Any,
                 cache_write: Any) -> dict[str, Any]:
    """:class:`Result` token fields from counts whose input leaves the cache reads and writes
    out (semconv's input count includes them). A count that is not one makes the input
    count invalid (the sum cannot be known), and is flagged as such by the core."""
    fresh, read, write = token_count(fresh_input), token_count(cache_read), token_count(cache_write)
    total: Any = None
    if fresh is not None:
        terms = [term for term in (fresh, read, write) if term is not None]
        bad = [term for term in terms if plausible_count(term) is None]
        total = bad[0] if bad else sum(plausible_count(term) or 0 for term in terms)
    return {"input_tokens": total, "output_tokens": token_count(output),
            "cache_read_tokens": read, "cache_creation_tokens": write}


def apply_usage(result: Result, counts: dict[str, Any]) -> None:
    """Set the counts that are known; the others keep what ``result`` holds."""
    for key, value in counts.items():
        if key == "attributes":  # what was read with the counts: service tier, speed…
            result.attributes.update(value)
        elif value is not None:
            setattr(result, key, value)
