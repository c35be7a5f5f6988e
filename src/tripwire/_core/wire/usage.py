"""Token counts in the convention Anthropic and Amazon Bedrock share: the input count leaves
the cache reads and writes out, while ``gen_ai.usage.input_tokens`` includes them."""

from __future__ import annotations

from typing import Any

from tripwire._core.invocation import Result


def token_count(value: Any) -> int | None:
    """A token count: an int (not a bool), or its digits as a string (HTTP headers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def usage_counts(fresh_input: Any, output: Any, cache_read: Any,
                 cache_write: Any) -> dict[str, Any]:
    """:class:`Result` token fields from counts whose input leaves the cache reads and writes
    out (semconv's input count includes them)."""
    fresh, read, write = token_count(fresh_input), token_count(cache_read), token_count(cache_write)
    return {"input_tokens": None if fresh is None else fresh + (read or 0) + (write or 0),
            "output_tokens": token_count(output), "cache_read_tokens": read,
            "cache_creation_tokens": write}


def apply_usage(result: Result, counts: dict[str, Any]) -> None:
    """Set the counts that are known; the others keep what ``result`` holds."""
    for key, value in counts.items():
        if value is not None:
            setattr(result, key, value)
