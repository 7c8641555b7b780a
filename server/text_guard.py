"""NUL characters never reach the database: refused with 422 at the edge of every HTTP request.

PostgreSQL cannot store U+0000 in a text or JSON column and answers such an insert with an error, so
a NUL in any free-text field (a name, a comment, a rule, an attribute) would end as a 500. This
middleware looks at the decoded path, the query string, JSON bodies (every key and string value, at
any depth) and url-encoded forms, and answers 422 (`"code": "bad_request"`, as for any invalid
input) before any route runs. Websocket paths get close code 1008; websocket frames are checked in
server/api/ws.py with `find_nul`. Multipart bodies are file uploads: their bytes may hold NUL and
are not inspected here (upload names are labels; see server/uploads.py).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL = "\x00"
CODE = "bad_request"  # the code of every invalid-input answer (one error shape)
CLOSE_POLICY = 1008  # websocket close code: policy violation
MAX_DEPTH = 512  # deeper JSON than this is refused by validation anyway; stop walking there


def find_nul(value: Any, where: str = "body", depth: int = 0) -> str | None:
    """Where a NUL character sits in decoded JSON (e.g. "body.items.0.name"), or None if there is none."""
    if isinstance(value, str):
        return where if NUL in value else None
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return f"{where} (a key)"
            found = find_nul(item, f"{where}.{key}", depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{where}.{index}", depth + 1)
            if found:
                return found
    return None


def nul_in_json(body: bytes) -> str | None:
    """Where a NUL sits in a JSON body; invalid JSON is left to the route's own validation."""
    if NUL.encode() in body:
        return "body"
    if b"\\u0000" not in body.lower():  # the only other way to spell NUL in JSON
        return None
    try:
        return find_nul(json.loads(body))
    except (ValueError, RecursionError):
        return None


def nul_in_form(body: bytes) -> str | None:
    """Which field of a url-encoded form holds a NUL character."""
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
    except ValueError:
        return None
    for key, value in pairs:
        if NUL in key or NUL in value:
            return f"form field {key.replace(NUL, '') or '?'}"
    return None


def nul_in_target(scope: Scope) -> str | None:
    """Whether the decoded path or query string holds a NUL character."""
    if NUL in scope.get("path", ""):
        return "path"
    if NUL in unquote(scope.get("query_string", b"").decode("latin-1")):
        return "query string"
    return None


class NulGuardMiddleware:
    """ASGI middleware: refuse any request whose path, query, JSON body or form holds a NUL character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the target (and the body of JSON and form requests) before the app sees the request."""
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        where = nul_in_target(scope)
        if where and scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": "nul_character"})
        if where:
            return await self.refuse(send, where)
        check = self.body_check(scope)
        if check is None:
            return await self.app(scope, receive, send)
        try:
            messages, body = await self.read_body(receive)
        except HTTPException as exc:  # BodyCapMiddleware's 413 while this reads: answer it in the one shape
            message = "request body too large" if exc.status_code == 413 else str(exc.detail)
            code = "too_large" if exc.status_code == 413 else "http_error"
            return await self.respond(send, exc.status_code, code, message)
        where = check(body)
        if where:
            return await self.refuse(send, where)
        await self.app(scope, self.replay(messages, receive), send)

    @staticmethod
    def body_check(scope: Scope) -> Any:
        """The body check for this request's content type, or None when the body is not inspected."""
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return None
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            return nul_in_form
        if "json" in content_type or not content_type:
            return nul_in_json
        return None

    @staticmethod
    async def read_body(receive: Receive) -> tuple[list[Message], bytes]:
        """Every message of the request body (bounded by BodyCapMiddleware, which runs first)."""
        messages, chunks = [], []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return messages, b"".join(chunks)

    @staticmethod
    def replay(messages: list[Message], receive: Receive) -> Receive:
        """A receive that hands the app the messages already read, then the real receive's."""
        pending = list(messages)

        async def replayed() -> Message:
            return pending.pop(0) if pending else await receive()

        return replayed

    @classmethod
    async def refuse(cls, send: Send, where: str) -> None:
        """Answer 422 in the one error shape, naming where the NUL was."""
        await cls.respond(send, 422, CODE, f"{where}: text must not contain NUL (\\u0000) characters")

    @staticmethod
    async def respond(send: Send, status: int, code: str, message: str) -> None:
        """Answer {"error": {"code", "message"}} with this status."""
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
