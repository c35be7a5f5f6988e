"""A small threaded HTTP server on 127.0.0.1 that fake provider servers build on.

Each fake subclasses :class:`FakeServer` and implements :meth:`FakeServer.default_reply`;
tests can queue replies with :meth:`FakeServer.enqueue` (consumed first-in first-out, one
per request) to script sequences such as "429, then 200".
"""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Reply:
    """A complete HTTP reply with a body sent at once."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None,
               delay: float = 0.0) -> Reply:
    return Reply(status, json.dumps(payload).encode(), dict(headers or {}), "application/json", delay)


@dataclass
class StreamReply:
    """A chunked reply written piece by piece (SSE, event streams, JSON lines).

    ``abort_after``: close the connection after that many chunks without finishing the body,
    as a server or proxy dying mid-stream does.
    """

    chunks: Iterable[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    abort_after: int | None = None
    chunk_delay: float = 0.0


def sse_event(data: Any, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n".encode()


class _QuietHTTPServer(ThreadingHTTPServer):
    """Clients dropping keep-alive connections (client closed, test over) is normal here:
    don't print a traceback for it."""

    daemon_threads = True
    # The default backlog (5) refuses connections when many clients connect at once,
    # as the concurrency tests and users' load tests do.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


AnyReply = Reply | StreamReply
ReplyFactory = Callable[[RecordedRequest], AnyReply]

_ReplyT = TypeVar("_ReplyT", bound=AnyReply)
_ServerT = TypeVar("_ServerT", bound="FakeServer")


def overlay(table: dict[str, str]) -> collections.ChainMap[str, str]:
    """A per-server view of a class-level model table: writes land in the instance's own
    dict, reads fall through to the (live) class table."""
    return collections.ChainMap({}, table)


def refresh_header(reply: _ReplyT, name: str, new_value: Callable[[], str]) -> _ReplyT:
    """``reply`` with a fresh ``name`` header when it carries one: a static reply object may
    be queued more than once, and each sending must get its own request id."""
    if name not in reply.headers:
        return reply
    return dataclasses.replace(reply, headers={**reply.headers, name: new_value()})


class FakeServer:
    """Base of the fake provider servers. Use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[AnyReply | ReplyFactory] = collections.deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    # Annotated with a type variable so that ``FakeOpenAIServer().start()`` (and ``with``)
    # is typed as the subclass without each fake overriding these.
    def start(self: _ServerT) -> _ServerT:
        handler = _make_handler(self)
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # A short poll interval: stop() (shutdown) waits up to one interval, per test.
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.01),
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self: _ServerT) -> _ServerT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # --- recorded traffic -----------------------------------------------------------------
    @property
    def last_request(self) -> RecordedRequest:
        assert self.requests, f"the {type(self).__name__} has received no request"
        return self.requests[-1]

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``suffix`` (e.g. ``"/chat/completions"``)."""
        return [r for r in self.requests if r.path.endswith(suffix)]

    # --- scripting ---------------------------------------------------------------------
    def enqueue(self, *replies: AnyReply | ReplyFactory) -> None:
        """Queue replies (or callables building one from the request) for the next requests."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        raise NotImplementedError

    def _reply_for(self, request: RecordedRequest) -> AnyReply:
        with self._lock:
            self.requests.append(request)
            queued = self._queue.popleft() if self._queue else None
        if queued is None:
            return self.default_reply(request)
        return self.render_queued(queued, request)

    def render_queued(self, queued: AnyReply | ReplyFactory, request: RecordedRequest) -> AnyReply:
        """Turn a queued item into a reply; subclasses may give their own reply specs access
        to server state (e.g. the model snapshot table) here."""
        return queued(request) if callable(queued) else queued


class SnapshotModelServer(FakeServer):
    """A fake whose responses report a dated snapshot for a requested model alias.

    ``MODEL_SNAPSHOTS`` (each subclass defines its own) maps aliases to snapshots; change one
    server with ``server.model_snapshots[alias] = snapshot`` (instance-level overrides on top
    of the class table) or every server by patching the class table.
    """

    MODEL_SNAPSHOTS: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.model_snapshots: collections.ChainMap[str, str] = overlay(type(self).MODEL_SNAPSHOTS)

    def resolve_model(self, requested: str) -> str:
        """The model name a response reports for ``requested``."""
        return self.model_snapshots.get(requested, requested)


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the
        # body until the client's delayed ACK (~40 ms per call on keep-alive connections).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                reply = server._reply_for(request)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hang
                reply = json_reply({"error": {"message": f"fake server error: {exc!r}"}}, 500)
            if isinstance(reply, StreamReply):
                self._send_stream(reply)
            else:
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _send_stream(self, reply: StreamReply) -> None:
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("transfer-encoding", "chunked")
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                for index, chunk in enumerate(reply.chunks):
                    if reply.abort_after is not None and index >= reply.abort_after:
                        self.close_connection = True
                        self.wfile.flush()
                        # Drop the socket without the terminating chunk: a truncated stream.
                        self.connection.shutdown(2)
                        return
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (early break)

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return Handler
