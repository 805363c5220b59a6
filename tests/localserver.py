"""A local HTTP server on 127.0.0.1 for testing network code without the internet.

Usage::

    def answer(request: Request) -> Reply:
        return Reply(json={"ok": True})          # or Reply(status=500), Reply(drop=True), ...

    with LocalServer(answer) as server:
        url = server.url + "/some/path"

``Reply`` options: ``json`` (an object, sent as JSON), ``body`` (raw bytes), ``status``,
``delay`` (seconds to sleep before answering), ``drop`` (close the connection without an answer),
``truncate`` (send only the first N bytes of the body but announce the full length).
Every request is recorded in ``server.requests``.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return jsonlib.loads(self.body or b"null")


@dataclass
class Reply:
    json: Any = None
    body: bytes | None = None
    status: int = 200
    delay: float = 0.0
    drop: bool = False
    truncate: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    def __init__(self, answer: Callable[[Request], Reply]) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    body=self.rfile.read(length) if length else b"",
                    headers=dict(self.headers),
                )
                outer.requests.append(request)
                reply = outer.answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                body = reply.body
                if body is None:
                    body = jsonlib.dumps(reply.json).encode()
                sent = body if reply.truncate is None else body[: reply.truncate]
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(sent)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(sent)

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
