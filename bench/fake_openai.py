"""A local OpenAI-compatible chat server that streams real server-sent events over HTTP.

It stands in for vLLM or llama.cpp in the load test and the fault tests: POST /v1/chat/completions
with stream=true answers a chat.completion.chunk stream, one word per event, `--delay` seconds
apart. The answer quotes the first passage of the prompt and cites it ([1]), so Frontdesk's
grounding check accepts it as a model's answer. Modes for fault tests:

    stream   a well-formed stream (default)
    hang     accept the request and never answer
    garbage  a few good words, then an event that is not JSON
    error    HTTP 503 with an OpenAI error body

    .venv/bin/python bench/fake_openai.py --port 8099 --delay 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODES = ("stream", "hang", "garbage", "error")
FIRST_PASSAGE = re.compile(r"\[1\][^\n]*:\n(.+?)(?:\n\n\[2\]|\n\nQuestion:|\Z)", re.S)


@dataclass
class Behaviour:
    """How the server answers."""

    mode: str = "stream"
    delay: float = 0.0  # seconds between events
    max_words: int = 40
    stopped: bool = False  # set on shutdown: hanging requests give up


def answer_words(body: dict, max_words: int) -> list[str]:
    """The words of a grounded answer: the start of passage [1], cited."""
    messages = body.get("messages") or [{}]
    prompt = str(messages[-1].get("content", ""))
    found = FIRST_PASSAGE.search(prompt)
    text = found.group(1) if found else "I don't know; let me connect you with a person."
    words = text.split()[:max_words]
    words[-1] = words[-1].rstrip(".") + " [1]." if found else words[-1]
    return [w + " " for w in words[:-1]] + [words[-1]]


def event(model: str, content: str | None = None, finish: str | None = None) -> bytes:
    """One SSE event carrying a chat.completion.chunk."""
    delta = {"content": content} if content is not None else {}
    chunk = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def build_app(behaviour: Behaviour) -> Starlette:
    """The Starlette app of the fake server."""

    async def completions(request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", "fake"))
        if behaviour.mode == "error":
            return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}}, status_code=503)
        if behaviour.mode == "hang":
            while not behaviour.stopped:
                await asyncio.sleep(0.05)
            return JSONResponse({"error": {"message": "shutting down"}}, status_code=503)
        words = answer_words(body, behaviour.max_words)

        async def stream() -> AsyncIterator[bytes]:
            yield b'data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":' \
                  b'[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
            for n, word in enumerate(words):
                if behaviour.delay:
                    await asyncio.sleep(behaviour.delay)
                if behaviour.mode == "garbage" and n == 3:
                    yield b"data: {this is not json\n\n"
                    return
                yield event(model, word)
            yield event(model, finish="stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
    ])


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(behaviour: Behaviour, port: int | None = None) -> Iterator[str]:
    """Run the fake server in a thread until the block ends; yields its base URL (…/v1)."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(build_app(behaviour), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake OpenAI server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        behaviour.stopped = True
        server.should_exit = True
        thread.join(5)


def main() -> None:
    """Serve until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--mode", choices=MODES, default="stream")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between streamed words")
    parser.add_argument("--max-words", type=int, default=40)
    args = parser.parse_args()
    behaviour = Behaviour(args.mode, args.delay, args.max_words)
    uvicorn.run(build_app(behaviour), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
