"""Messages API (``messages.create`` / ``parse`` / ``stream``, and their ``beta`` twins) onto
the core. The wire format itself is mapped in :mod:`tripwire._core.wire.anthropic_messages`
(shared with Bedrock's InvokeModel); this module is what is particular to the SDK: the
client, ``extra_body``, the ``stream`` flag, raw responses, typed stream events."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core.fields import given
from tripwire._core.invocation import Request, Result
from tripwire._core.stainless import is_stream_result, stream_requested, unwrap_raw
from tripwire._core.wire.anthropic_messages import (
    MessageEvents,
    describe_request,
    parse_message,
)
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.anthropic.common import client_info


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, attrs = client_info.start(instance)
    # Recent SDKs dropped the sampling parameters from the signature: they are sent through
    # extra_body, whose values win over the keyword arguments.
    extra = kwargs.get("extra_body")
    sent = {**kwargs, **extra} if isinstance(extra, dict) else kwargs
    described = describe_request(attrs, kwargs, sent)
    model = kwargs.get("model")
    return Request(
        operation=semconv.OP_CHAT,
        provider=provider,
        model=model if given(model) and model else None,
        attributes=attrs,
        stream=stream_requested(kwargs),
        **described,
    )


def parse_response(response: Any, request: Request) -> Result:
    message = unwrap_raw(response, request.stream)
    if message is None:
        return Result()
    result = Result()
    parse_message(result, message)
    return result


class MessageStreamAccumulator(MessageEvents):
    """Folds raw message stream events (``message_start`` … ``message_stop``)."""

    __slots__ = ()

    def __init__(self, request: Request) -> None:
        super().__init__()

    def result(self) -> Result:
        result = Result()
        self.apply(result)
        return result


# with_raw_response / with_streaming_response return a wrapper, not the event stream
MAPPING = CallMapping(build_request, parse_response, MessageStreamAccumulator, is_stream_result)
# parse() never streams.
PARSE_MAPPING = CallMapping(build_request, parse_response, None)
# The stream() helper's request (always a stream).
STREAM_MAPPING = CallMapping(build_request, parse_response, MessageStreamAccumulator)
