"""Encoder for the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Each message is::

    prelude   total length (uint32 BE) | headers length (uint32 BE) | CRC32 of those 8 bytes
    headers   repeated: name length (uint8) | name (utf-8) | value type (uint8) | value
    payload   bytes (for Bedrock: the event's JSON)
    trailer   CRC32 of everything before it (prelude and its CRC included)

Only the header value types the fakes need are written: strings (type 7), booleans
(0/1), int32 (4), int64 (5) and byte arrays (6). ``botocore.eventstream.EventStreamBuffer``
is the reference decoder; the tests decode every message we build with it.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Mapping
from typing import Any

HeaderValue = str | bool | int | bytes

CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if len(raw_name) > 255:
        raise ValueError(f"header name too long: {name!r}")
    out = struct.pack("!B", len(raw_name)) + raw_name
    if isinstance(value, bool):  # before int: bool is an int
        return out + struct.pack("!B", 0 if value else 1)
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return out + struct.pack("!Bi", 4, value)
        return out + struct.pack("!Bq", 5, value)
    if isinstance(value, bytes):
        return out + struct.pack("!BH", 6, len(value)) + value
    raw_value = value.encode("utf-8")
    return out + struct.pack("!BH", 7, len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """One complete event-stream message (prelude, headers, payload, message CRC)."""
    raw_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total_length = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(raw_headers))
    prelude_crc = crc32(prelude) & 0xFFFFFFFF
    message = prelude + struct.pack("!I", prelude_crc) + raw_headers + payload
    message_crc = crc32(message) & 0xFFFFFFFF
    return message + struct.pack("!I", message_crc)


def event_message(event_type: str, payload: Any, content_type: str = "application/json") -> bytes:
    """An ``event`` message, as Bedrock sends for each member of a stream union."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return encode_message(
        {":event-type": event_type, ":content-type": content_type, ":message-type": "event"},
        body,
    )


def exception_message(exception_type: str, message: str, **fields: Any) -> bytes:
    """An ``exception`` message; ``exception_type`` is the stream member name
    (``modelStreamErrorException``, ``throttlingException``, ...)."""
    body = json.dumps({"message": message, **fields}).encode()
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        body,
    )


def error_message(code: str, message: str) -> bytes:
    """An ``error`` message (error code and message in headers, no payload)."""
    return encode_message(
        {":error-code": code, ":error-message": message, ":message-type": "error"}
    )
