"""A fake Google Gen AI (Gemini) ``generateContent`` API speaking the real wire format.

Routes (any API version prefix, Gemini Developer API and Vertex AI path shapes alike)::

    POST /{version}/models/{model}:generateContent                         JSON
    POST /{version}/models/{model}:streamGenerateContent?alt=sse           SSE "data:" chunks
    POST /{version}/[projects/{p}/locations/{l}/]publishers/google/models/{model}:...

Point the ``google-genai`` client at it (no network, no Google auth)::

    from google import genai
    from google.genai import types

    client = genai.Client(api_key="test", vertexai=False,
                          http_options=types.HttpOptions(base_url=server.url))

    # Vertex AI mode, express (API key) form -- also offline:
    client = genai.Client(vertexai=True, api_key="test",
                          http_options=types.HttpOptions(base_url=server.url))

Token counts are fixed by the builder (``usage=GeminiUsage(...)``, default
:data:`DEFAULT_USAGE`), never derived from text.
"""

from __future__ import annotations

import collections
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tripwire.testing._http import (
    AnyReply,
    FakeServer,
    RecordedRequest,
    Reply,
    ReplyFactory,
    StreamReply,
    json_reply,
    overlay,
    sse_event,
)
from tripwire.testing._wire import WORD_RE

if TYPE_CHECKING:
    from google import genai

__all__ = [
    "DEFAULT_USAGE",
    "FakeGeminiServer",
    "GeminiResponse",
    "GeminiUsage",
    "gemini_error",
    "gemini_function_call",
    "gemini_prompt_blocked",
    "gemini_rate_limited",
    "gemini_response",
    "gemini_safety_block",
    "gemini_text",
    "gemini_thought",
    "parse_gemini_path",
    "resolve_gemini_model_version",
]

_ids = itertools.count(1)

_PATH_RE = re.compile(r"models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")

DEFAULT_TEXT = "Hello from the fake Gemini server."
HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)


def parse_gemini_path(path: str) -> tuple[str, str] | None:
    """``(model, method)`` from a request path, or None when it is not a model method."""
    match = _PATH_RE.search(path)
    return (match["model"], match["method"]) if match else None


def resolve_gemini_model_version(requested: str | None,
                                 server: FakeGeminiServer | None = None) -> str:
    """The ``modelVersion`` the fake reports for a requested model name: the server's
    ``model_versions`` when given, else the class table."""
    if not requested:
        return "gemini-2.5-flash"
    if server is not None:
        return server.resolve_model_version(requested)
    return FakeGeminiServer.MODEL_VERSIONS.get(requested, requested)


# --- parts (wire JSON) ------------------------------------------------------------------
def gemini_text(text: str) -> dict[str, Any]:
    return {"text": text}


def gemini_thought(text: str) -> dict[str, Any]:
    """A thought-summary part (``thought: true``)."""
    return {"text": text, "thought": True}


def gemini_function_call(name: str, args: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A ``functionCall`` part; ``id`` is omitted unless given (the Developer API omits it)."""
    call: dict[str, Any] = {"name": name, "args": args}
    if id is not None:
        call["id"] = id
    return {"functionCall": call}


@dataclass(frozen=True)
class GeminiUsage:
    """``usageMetadata``: ``prompt_token_count`` *includes* ``cached_content_token_count``;
    ``thoughts_token_count`` is separate from ``candidates_token_count``."""

    prompt_token_count: int = 20
    candidates_token_count: int = 10
    cached_content_token_count: int | None = None
    thoughts_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None

    @property
    def total_token_count(self) -> int:
        return (self.prompt_token_count + self.candidates_token_count
                + (self.thoughts_token_count or 0) + (self.tool_use_prompt_token_count or 0))

    def to_json(self, *, prompt_only: bool = False) -> dict[str, Any]:
        # Zero counts are left out of the JSON, as the API does (proto3 JSON)
        out: dict[str, Any] = ({"promptTokenCount": self.prompt_token_count}
                               if self.prompt_token_count else {})
        if prompt_only:
            out["totalTokenCount"] = self.prompt_token_count
            return out
        if self.candidates_token_count:
            out["candidatesTokenCount"] = self.candidates_token_count
        out["totalTokenCount"] = self.total_token_count
        if self.cached_content_token_count is not None:
            out["cachedContentTokenCount"] = self.cached_content_token_count
        if self.thoughts_token_count is not None:
            out["thoughtsTokenCount"] = self.thoughts_token_count
        if self.tool_use_prompt_token_count is not None:
            out["toolUsePromptTokenCount"] = self.tool_use_prompt_token_count
        if self.prompt_token_count:
            out["promptTokensDetails"] = [{"modality": "TEXT",
                                           "tokenCount": self.prompt_token_count}]
        return out


DEFAULT_USAGE = GeminiUsage()


def _safety_ratings(blocked_category: str | None = None) -> list[dict[str, Any]]:
    ratings = []
    for category in HARM_CATEGORIES:
        rating: dict[str, Any] = {"category": category, "probability": "NEGLIGIBLE"}
        if category == blocked_category:
            rating = {"category": category, "probability": "HIGH", "blocked": True}
        ratings.append(rating)
    return ratings


class GeminiResponse:
    """A scripted ``GenerateContentResponse``; call it with the request to get the reply.

    JSON for ``:generateContent``, SSE ``data:`` chunks for ``:streamGenerateContent``.
    Text parts stream word by word, other parts whole, one chunk each; the last chunk
    carries ``finishReason`` and the full ``usageMetadata`` (earlier chunks carry only the
    prompt count, as the API does). ``abort_after`` drops the connection after that many
    chunks. ``model_version=None`` reports :attr:`FakeGeminiServer.MODEL_VERSIONS` of the
    requested model.
    """

    def __init__(
        self,
        parts: str | Sequence[dict[str, Any]] = DEFAULT_TEXT,
        *,
        finish_reason: str | None = "STOP",
        usage: GeminiUsage | None = None,
        model_version: str | None = None,
        response_id: str | None = None,
        block_reason: str | None = None,
        blocked_category: str | None = None,
        finish_message: str | None = None,
        candidates: bool = True,
        abort_after: int | None = None,
        headers: dict[str, str] | None = None,
        chunk_delay: float = 0.0,
        with_usage: bool = True,
    ) -> None:
        self.parts: list[dict[str, Any]] = (
            [gemini_text(parts)] if isinstance(parts, str) else [dict(p) for p in parts]
        )
        self.finish_reason = finish_reason
        self.usage = usage or DEFAULT_USAGE
        self.model_version = model_version
        self.response_id = response_id
        self.block_reason = block_reason
        self.blocked_category = blocked_category
        self.finish_message = finish_message
        self.candidates = candidates
        self.abort_after = abort_after
        self.headers = dict(headers or {})
        self.chunk_delay = chunk_delay
        # False: no usageMetadata at all (as some gateways strip it), to exercise estimates.
        self.with_usage = with_usage

    def _envelope(self, requested_model: str | None, response_id: str,
                  server: FakeGeminiServer | None) -> dict[str, Any]:
        return {
            "modelVersion": self.model_version or resolve_gemini_model_version(requested_model,
                                                                                server),
            "responseId": response_id,
        }

    def _candidate(self, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"index": 0}
        if parts:
            candidate["content"] = {"parts": parts, "role": "model"}
        if final and self.finish_reason is not None:
            candidate["finishReason"] = self.finish_reason
            if self.finish_message is not None:
                candidate["finishMessage"] = self.finish_message
            if self.blocked_category is not None:
                candidate["safetyRatings"] = _safety_ratings(self.blocked_category)
        return candidate

    def _prompt_feedback(self) -> dict[str, Any]:
        return {"blockReason": self.block_reason,
                "safetyRatings": _safety_ratings(self.blocked_category)}

    def payload(self, requested_model: str | None, response_id: str | None = None, *,
                server: FakeGeminiServer | None = None) -> dict[str, Any]:
        """The complete non-streaming response JSON."""
        rid = response_id or self.response_id or f"fake-gemini-{next(_ids):08d}"
        body: dict[str, Any] = {}
        if self.block_reason is not None:
            body["promptFeedback"] = self._prompt_feedback()
            body["usageMetadata"] = self.usage.to_json(prompt_only=True)
        else:
            if self.candidates:
                body["candidates"] = [self._candidate(self.parts, final=True)]
            body["usageMetadata"] = self.usage.to_json()
        body.update(self._envelope(requested_model, rid, server))
        if not self.with_usage:
            body.pop("usageMetadata", None)
        return body

    def stream_payloads(self, requested_model: str | None, response_id: str | None = None, *,
                        server: FakeGeminiServer | None = None) -> list[dict[str, Any]]:
        """The JSON objects of the stream, in order."""
        rid = response_id or self.response_id or f"fake-gemini-{next(_ids):08d}"
        envelope = self._envelope(requested_model, rid, server)
        if self.block_reason is not None:
            return [self.payload(requested_model, rid, server=server)]
        pieces: list[dict[str, Any]] = []
        for part in self.parts:
            if set(part) == {"text"}:
                pieces += [{"text": t} for t in WORD_RE.findall(part["text"])]
            else:
                pieces.append(part)
        chunks: list[dict[str, Any]] = []
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            chunk: dict[str, Any] = {"candidates": [self._candidate([piece], final)]}
            chunk["usageMetadata"] = self.usage.to_json(prompt_only=not final)
            chunks.append({**chunk, **envelope})
        if not chunks:  # nothing to say: one chunk with the finish reason (e.g. SAFETY)
            body: dict[str, Any] = {}
            if self.candidates:
                body["candidates"] = [self._candidate([], final=True)]
            body["usageMetadata"] = self.usage.to_json()
            chunks.append({**body, **envelope})
        if not self.with_usage:
            for chunk in chunks:
                chunk.pop("usageMetadata", None)
        return chunks

    def __call__(self, request: RecordedRequest) -> AnyReply:
        return self.render(request, None)

    def render(self, request: RecordedRequest, server: FakeGeminiServer | None) -> AnyReply:
        route = parse_gemini_path(request.path)
        model, method = route if route else (None, "generateContent")
        if method == "streamGenerateContent":
            chunks = [sse_event(p) for p in self.stream_payloads(model, server=server)]
            return StreamReply(chunks, headers=dict(self.headers), abort_after=self.abort_after,
                               chunk_delay=self.chunk_delay)
        return json_reply(self.payload(model, server=server), headers=dict(self.headers))


# --- builders ---------------------------------------------------------------------------
def gemini_response(parts: str | Sequence[dict[str, Any]] = DEFAULT_TEXT,
                    **options: Any) -> GeminiResponse:
    """A response (JSON or SSE by route); see :class:`GeminiResponse` for options.

    ``finish_reason`` defaults to ``STOP`` (also for function calls, as Gemini does); pass
    ``MAX_TOKENS``, ``SAFETY``, ``RECITATION``, ``MALFORMED_FUNCTION_CALL`` ... to script
    others.
    """
    return GeminiResponse(parts, **options)


def gemini_safety_block(category: str = "HARM_CATEGORY_DANGEROUS_CONTENT",
                        parts: str | Sequence[dict[str, Any]] = (),
                        **options: Any) -> GeminiResponse:
    """A candidate stopped by the safety filter: ``finishReason: SAFETY`` and a blocked
    ``safetyRatings`` entry for ``category``; no content unless ``parts`` given."""
    options.setdefault("usage", GeminiUsage(candidates_token_count=0))
    return GeminiResponse(parts, finish_reason="SAFETY", blocked_category=category, **options)


def gemini_prompt_blocked(block_reason: str = "SAFETY",
                          category: str | None = "HARM_CATEGORY_DANGEROUS_CONTENT",
                          **options: Any) -> GeminiResponse:
    """The prompt itself blocked: no candidates, ``promptFeedback.blockReason`` set
    (``SAFETY``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``OTHER`` ...)."""
    return GeminiResponse((), finish_reason=None, block_reason=block_reason,
                          blocked_category=category, **options)


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str | None = None, *, status_name: str | None = None,
                 retry_delay: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    """A Google API error body ``{"error": {"code", "message", "status", "details"}}``.

    ``retry_delay`` (e.g. ``"2s"``) adds a ``google.rpc.RetryInfo`` detail, as quota errors do.
    """
    name = status_name or _STATUS_NAMES.get(status, "UNKNOWN")
    error: dict[str, Any] = {"code": status, "message": message or name.replace("_", " ").lower(),
                             "status": name}
    if retry_delay is not None:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                             "retryDelay": retry_delay}]
    return json_reply({"error": error}, status, headers)


def gemini_rate_limited(retry_delay: str = "1s", message: str = "Resource has been exhausted "
                        "(e.g. check quota).") -> Reply:
    """429 ``RESOURCE_EXHAUSTED`` with a RetryInfo detail."""
    return gemini_error(429, message, retry_delay=retry_delay)


class FakeGeminiServer(FakeServer):
    """Fake ``generativelanguage.googleapis.com`` / Vertex AI ``generateContent``.

    Unscripted requests get :data:`DEFAULT_TEXT` with :data:`DEFAULT_USAGE`.
    ``MODEL_VERSIONS`` maps requested names to the reported ``modelVersion`` (unknown names
    are echoed); change one server with ``server.model_versions[name] = version``
    (instance-level, on top of the class table) or every server by patching the class
    table, to simulate the model behind an alias changing.
    """

    MODEL_VERSIONS: ClassVar[dict[str, str]] = {
        "gemini-flash-latest": "gemini-2.5-flash-preview-09-2025",
        "gemini-flash-lite-latest": "gemini-2.5-flash-lite-preview-09-2025",
        "gemini-1.5-flash": "gemini-1.5-flash-002",
        "gemini-1.5-pro": "gemini-1.5-pro-002",
    }

    def __init__(self) -> None:
        super().__init__()
        self.model_versions: collections.ChainMap[str, str] = overlay(type(self).MODEL_VERSIONS)

    def client(self, *, vertexai: bool = False, api_key: str = "test-key",
               **http_options: Any) -> genai.Client:
        """A ``google.genai.Client`` for this server (``client.aio`` for async): Gemini
        Developer API mode, or Vertex AI express mode (API key) with ``vertexai=True``.
        Extra keyword arguments go to ``types.HttpOptions`` (e.g. ``retry_options``)."""
        from google import genai
        from google.genai import types

        return genai.Client(vertexai=vertexai, api_key=api_key,
                            http_options=types.HttpOptions(base_url=self.url, **http_options))

    def resolve_model_version(self, requested: str) -> str:
        """The ``modelVersion`` a response reports for ``requested``."""
        return self.model_versions.get(requested, requested)

    def render_queued(self, queued: AnyReply | ReplyFactory, request: RecordedRequest
                      ) -> AnyReply:
        if isinstance(queued, GeminiResponse):
            return queued.render(request, self)
        return super().render_queued(queued, request)

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        route = parse_gemini_path(request.path)
        if request.method == "POST" and route and route[1] in ("generateContent",
                                                               "streamGenerateContent"):
            return gemini_response().render(request, self)
        return gemini_error(404, f"no route {request.method} {request.path}")
