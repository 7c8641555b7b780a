"""The openai backend: any OpenAI-compatible chat server (vLLM, SGLang, TGI, llama.cpp, Ollama)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx

from bot.errors import GenerationUnavailable
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
from bot.generation.prompt import build_messages
from bot.pii import redact

log = logging.getLogger(__name__)


class OpenAIGenerator:
    """Streams chat completions over server-sent events; retries only before the first token."""

    backend = "openai"

    def __init__(self, settings: GenerationSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model = settings.openai_model
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self.client = httpx.Client(
            base_url=settings.openai_base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds)),
            transport=transport,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """POST /chat/completions with stream=true and yield the content deltas."""
        messages = build_messages(request, self.settings.history_turns)
        if self.settings.redact_pii:
            messages = [{**m, "content": redact(m["content"])} for m in messages]
        body = {
            "model": self.settings.openai_model,
            "messages": messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        for name in ("top_p", "top_k", "repetition_penalty"):  # top_k, repetition_penalty: vLLM/SGLang extensions
            value = getattr(self.settings, name)
            if value is not None:
                body[name] = value
        for attempt in range(self.settings.retries + 1):
            started = False
            try:
                with self.client.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise GenerationUnavailable(f"server answered {response.status_code}")
                    for piece in _deltas(response.iter_lines()):
                        if request.cancel.is_set():
                            return
                        started = True
                        yield piece
                return
            except (httpx.TransportError, GenerationUnavailable) as exc:
                if started or attempt == self.settings.retries:
                    raise GenerationUnavailable(f"openai backend: {exc}") from exc
                log.warning("openai backend attempt %d failed: %s", attempt + 1, exc)
                time.sleep(min(0.25 * 2**attempt, 2.0))


def _deltas(lines: Iterator[str]) -> Iterator[str]:
    """Content pieces from an SSE stream of chat.completion.chunk objects."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
            choices = event["choices"]
            if not isinstance(choices, list):
                raise TypeError("choices is not a list")
            if not choices:  # usage or content-filter chunks carry no choices
                continue
            delta = choices[0].get("delta") or {}
            if not isinstance(delta, dict):
                raise TypeError("delta is not an object")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GenerationUnavailable(f"malformed stream event: {data[:80]!r}") from exc
        content = delta.get("content")
        if isinstance(content, str) and content:
            yield content
