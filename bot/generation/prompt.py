"""The grounded prompt: persona, recent turns and numbered passages."""

from __future__ import annotations

from bot.generation.base import GenerationRequest

INSTRUCTIONS = (
    "Answer the customer's question using only the numbered passages below. "
    "Cite the passages you use with their numbers in square brackets, like [1]. "
    "Keep the answer short and friendly. Answer in the customer's language. "
    "If the passages do not contain the answer, say that you don't know and offer to connect "
    "the customer with a person. Never invent policies, prices or dates."
)


def format_passages(request: GenerationRequest) -> str:
    """Passages as '[n] Title - Section: text' blocks."""
    blocks = []
    for n, hit in enumerate(request.passages, start=1):
        chunk = hit.chunk
        where = f"{chunk.title} - {chunk.section}" if chunk.section else chunk.title
        blocks.append(f"[{n}] {where}:\n{chunk.text}")
    return "\n\n".join(blocks)


def build_messages(request: GenerationRequest, history_turns: int = 6) -> list[dict[str, str]]:
    """Chat messages for an instruction-tuned model."""
    system = f"You are {request.bot.name}'s customer-service assistant. {request.bot.persona}".strip()
    messages = [{"role": "system", "content": f"{system}\n\n{INSTRUCTIONS}"}]
    for turn in request.history[-history_turns:] if history_turns else []:
        messages.append({"role": "user" if turn.role == "customer" else "assistant", "content": turn.text})
    messages.append(
        {"role": "user", "content": f"Passages:\n{format_passages(request)}\n\nQuestion: {request.question}"}
    )
    return messages
