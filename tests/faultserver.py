"""A real HTTP server on 127.0.0.1 that plays scripted replies, for fault-injection tests.

Each path gets a script: replies served in order, one per request, then a fallback (by default
a 404 that says the script ran out, so a test that asks too often fails loudly). A reply can
wait before answering (to trigger read timeouts), cut its body short (``Content-Length`` larger
than what is sent, then close), or drop the connection without answering. Every request is
recorded. `echo` makes a reply that quotes the request's URL back. Durations are in seconds.

    with FaultServer() as server:
        server.script("/feed", Reply(503), Reply(200, body=b"ok"))
        client.get(server.url("/feed"))
        assert [r.path for r in server.requests] == ["/feed", "/feed"]
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted response.

    `delay` is slept before the status line is sent. `truncate` sends only that many bytes of
    `body` while announcing its full length, then closes. `drop` closes the connection without
    any response. `Content-Length` is added unless `headers` sets it.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    truncate: int | None = None
    drop: bool = False


@dataclass(frozen=True)
class Recorded:
    """A request the server received; `at` is `time.monotonic()` on arrival."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    target: str = ""  # the request target exactly as sent: path and query, percent-encoded

    def form(self) -> dict[str, list[str]]:
        """The body parsed as an ``application/x-www-form-urlencoded`` form."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


#: A script entry: a fixed reply, or a function of the request that makes one.
Entry = Reply | Callable[[Recorded], Reply]


def echo(status: int = 200, *, template: str = "<html><body>You asked for {target}</body></html>"
         ) -> Callable[[Recorded], Reply]:  # fmt: skip
    """A script entry answering with a page that quotes the request target (path and query as
    sent), as some servers' error and search pages do: `template` gets ``{target}``."""

    def reply(request: Recorded) -> Reply:
        body = template.format(target=request.target)
        return Reply(status, {"Content-Type": "text/html"}, body.encode())

    return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler sleeping in a delay must not hold up shutdown
    owner: FaultServer

    def handle_error(self, request: object, client_address: object) -> None:
        # The client giving up (timeouts, truncated bodies) breaks pipes: that is the point.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # seconds an idle keep-alive connection is held

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
            target=self.path,
        )
        reply = owner._next_reply(recorded)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        self.send_response_only(reply.status)
        given = {name.lower() for name in reply.headers}
        if "date" not in given:  # a scripted Date (a server with a skewed clock) replaces ours
            self.send_header("Date", self.date_time_string())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "content-length" not in given:
            self.send_header("Content-Length", str(len(reply.body)))
        if reply.truncate is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            payload = reply.body if reply.truncate is None else reply.body[: reply.truncate]
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class FaultServer:
    """A scripted HTTP server on 127.0.0.1 at a free port, running in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Entry]] = {}
        self._fallbacks: dict[str, Entry] = {}
        self._requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        """The full ``http://127.0.0.1:PORT/path`` address of `path`."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Entry, then: Entry | None = None) -> None:
        """Serve `replies` to the next requests for `path`, in order, then `then` forever.

        Without `then`, requests past the script get a 404 saying so. Replaces any earlier
        script of `path`.
        """
        with self._lock:
            self._scripts[path] = deque(replies)
            if then is None:
                self._fallbacks.pop(path, None)
            else:
                self._fallbacks[path] = then

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, in order of arrival."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Recorded]:
        """The requests received for `path`."""
        return [r for r in self.requests if r.path == path]

    def _next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self._requests.append(recorded)
            queue = self._scripts.get(recorded.path)
            if queue:
                entry: Entry | None = queue.popleft()
            else:
                entry = self._fallbacks.get(recorded.path)
        if entry is None:
            message = f"fault server: no scripted reply left for {recorded.path}"
            return Reply(404, {"Content-Type": "text/plain"}, message.encode())
        return entry(recorded) if callable(entry) else entry

    def start(self) -> FaultServer:
        """Start serving; returns the server."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; delayed replies are abandoned."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def refused_url(path: str = "/") -> tuple[str, socket.socket]:
    """A URL on 127.0.0.1 where connections are refused, and the socket reserving its port.

    The socket is bound but never listens, so nothing else can take the port while the caller
    holds it; close it when done.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{sock.getsockname()[1]}{path}", sock
