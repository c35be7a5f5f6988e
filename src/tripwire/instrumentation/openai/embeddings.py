"""Embeddings (``embeddings.create``) onto the core."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core.fields import get, given, put_number
from tripwire._core.invocation import Request, Result
from tripwire._core.stainless import unwrap_raw
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.openai.common import start_attributes


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, attrs = start_attributes(instance)
    put_number(attrs, semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, kwargs.get("dimensions"))
    fmt = kwargs.get("encoding_format")
    if given(fmt):
        attrs[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(fmt)]
    model = kwargs.get("model")
    return Request(semconv.OP_EMBEDDINGS, provider, model if given(model) else None, attrs)


def parse_response(response: Any, request: Request) -> Result:
    response = unwrap_raw(response)
    if response is None:
        return Result()
    usage = get(response, "usage")
    return Result(response_model=get(response, "model"),
                  input_tokens=get(usage, "prompt_tokens"))


MAPPING = CallMapping(build_request, parse_response)
