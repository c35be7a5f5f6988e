"""``models.embed_content`` (sync and async) onto the core as an ``embeddings`` span."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core.fields import items, plausible_count, put_number
from tripwire._core.invocation import Request, Result
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.google_genai.common import client_info, field, model_id


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, attrs = client_info.start(instance)
    put_number(attrs, semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
               field(kwargs.get("config"), "output_dimensionality"))
    return Request(semconv.OP_EMBEDDINGS, provider, model_id(kwargs.get("model")), attrs)


def parse_response(response: Any, request: Request) -> Result:
    # The Developer API reports no usage for embeddings; Vertex AI counts tokens per input
    # (statistics.token_count) and newer responses carry usage_metadata.
    usage = field(response, "usage_metadata")
    tokens = field(usage, "prompt_token_count")
    if not isinstance(tokens, int):
        counts = [plausible_count(field(field(e, "statistics"), "token_count"))
                  for e in items(field(response, "embeddings"))]
        # (a count that is not one — NaN, negative, fractional — leaves the sum unknown)
        tokens = sum(counts) if counts and None not in counts else None  # type: ignore[arg-type]
    return Result(input_tokens=tokens)


MAPPING = CallMapping(build_request, parse_response)
