"""Replay recorded provider interactions (VCR.py cassettes) to the real SDKs on 127.0.0.1.

A cassette holds what a real API answered: status, headers and body — a JSON document, an
SSE stream as text, or the AWS event stream as bytes (binary framing included, so Bedrock
streams are sent back exactly as recorded). :class:`ReplayServer` serves the interactions it
is given in order, whatever the request, so a test sends the recorded request through the
SDK and checks the telemetry against the recorded answer::

    [interaction] = load_cassette(path)
    with ReplayServer() as server:
        server.play(interaction)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")
        client.chat.completions.create(**interaction.request_json)

Loading cassettes needs PyYAML (a test dependency); nothing else beyond the standard library.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tripwire.testing._http import AnyReply, FakeServer, RecordedRequest, Reply, StreamReply

__all__ = ["Interaction", "ReplayServer", "load_cassette", "sse_chunks"]

# Headers the replaying server sets itself (length and framing of *its* reply) or that
# describe an encoding the recorded body no longer has.
_OWN_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding",
                          "connection", "content-type", "keep-alive"})


@dataclass(frozen=True)
class Interaction:
    """One recorded request and the real API's answer to it."""

    source: str  # cassette path (relative) and index, for test ids
    method: str
    uri: str
    request_body: str
    status: int
    headers: dict[str, str]  # lower-case names, first value
    body: bytes

    @property
    def path(self) -> str:
        """The request path, URL-decoded (``/model/amazon.nova-lite-v1:0/invoke``)."""
        return unquote(urlsplit(self.uri).path)

    @property
    def request_json(self) -> Any:
        try:
            return json.loads(self.request_body or "null")
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def body_json(self) -> Any:
        return json.loads(self.body)


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


def _body_bytes(body: Any, headers: dict[str, str]) -> bytes:
    raw = body.get("string", b"") if isinstance(body, dict) else body
    data = raw if isinstance(raw, bytes) else str(raw or "").encode("utf-8")
    if data[:2] == b"\x1f\x8b":  # recorded before decoding: serve it decoded
        data = gzip.decompress(data)
    return data


def load_cassette(path: Path, root: Path | None = None) -> list[Interaction]:
    """The interactions of a VCR.py cassette (YAML)."""
    import yaml  # a test dependency, needed only here

    document = yaml.safe_load(path.read_bytes()) or {}
    name = str(path.relative_to(root)) if root else path.name
    out = []
    for index, item in enumerate(document.get("interactions") or ()):
        request, response = item["request"], item["response"]
        headers = {str(k).lower(): _first(v) for k, v in (response.get("headers") or {}).items()}
        body = request.get("body")
        out.append(Interaction(
            source=f"{name}#{index}", method=str(request.get("method", "POST")),
            uri=str(request.get("uri", "")),
            request_body=body.decode() if isinstance(body, bytes) else str(body or ""),
            status=int(response["status"]["code"]), headers=headers,
            body=_body_bytes(response.get("body"), headers)))
    return out


def sse_chunks(body: bytes) -> list[bytes]:
    """An SSE body cut after each event (what a server flushes one by one)."""
    normalized = body.replace(b"\r\n", b"\n")
    events = [event + b"\n\n" for event in normalized.split(b"\n\n") if event.strip()]
    return events or [body]


class ReplayServer(FakeServer):
    """Serves :meth:`play`-ed interactions first-in first-out, one per request."""

    def play(self, *interactions: Interaction) -> None:
        self.enqueue(*(self.reply_for(i) for i in interactions))

    @staticmethod
    def reply_for(interaction: Interaction) -> AnyReply:
        headers = {k: v for k, v in interaction.headers.items() if k not in _OWN_HEADERS}
        content_type = interaction.content_type
        if "text/event-stream" in content_type:
            return StreamReply(sse_chunks(interaction.body), interaction.status, headers,
                               content_type)
        if "vnd.amazon.eventstream" in content_type:
            return StreamReply([interaction.body], interaction.status, headers, content_type)
        return Reply(interaction.status, interaction.body, headers, content_type)

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        return Reply(599, b'{"error": "no recorded interaction left to replay"}')
