"""Refuse request bodies above a size limit before reading them into memory."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.api.errors import error_body, error_json


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 when Content-Length or the streamed (e.g. chunked) body exceeds ``limit`` bytes.

    Once the body is too large the app's own answer is replaced by the 413, whatever the app made of the cut-off
    read (the framework turns any failure to read a JSON body into its own 400)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        state = "reading"  # -> "too large" (413 owed) -> "refused" (413 sent); or -> "answering" (app's reply)

        async def limited_receive() -> Message:
            nonlocal seen, state
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    state = "too large" if state == "reading" else state
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal state
            if state == "too large":
                state = "refused"
                await self._refuse(send)
            elif state != "refused":
                state = "answering" if message["type"] == "http.response.start" else state
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if state == "too large":
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        payload = error_json(
            error_body("too_large", f"the request body is larger than {self.limit} bytes; send smaller batches")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
