"""A local webhook endpoint for the tests: a real HTTP server on 127.0.0.1 that records every request it is sent
(raw body and headers) and answers with ``status`` (and ``location``, for a redirect); with ``hold_first``, it
holds the first request unanswered until ``answer`` is set, so that its sender can be killed mid-delivery."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, *, hold_first: bool = False) -> None:
        self.status = 200
        self.location = ""
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.first = threading.Event()
        self.answer = threading.Event()
        if not hold_first:
            self.answer.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((raw, {k.lower(): v for k, v in self.headers.items()}))
                if len(receiver.requests) == 1:
                    receiver.first.set()
                    receiver.answer.wait(60)
                try:
                    self.send_response(receiver.status)
                    if receiver.location:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            do_GET = do_POST  # noqa: N815  # the name http.server calls

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw, _ in self.requests]

    def actions(self) -> list[str]:
        return [e["action"] for body in self.bodies() for e in body["events"]]

    def close(self) -> None:
        self.answer.set()
        self.server.shutdown()
        self.server.server_close()
