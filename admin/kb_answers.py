"""Questions and answers typed in the console, added to a bot's knowledge as small Markdown documents.

The knowledge page's answer form (reached from the metrics page's "add to knowledge" link) turns a
customer's question and the business's answer into `# question` + answer text, and queues it
through the same ingestion queue as an uploaded file, so it is chunked, embedded, searchable and
shown as a help-center article like any other document. The document's name comes from the
question (plus a short digest), so answering the same question again replaces the earlier answer.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from sqlmodel import Session

from admin.i18n import Msg
from admin.prefill import MAX_PREFILL, prefill
from knowledge.chunking import slugify
from server.errors import BadRequest
from server.ingest import PENDING, IngestResult
from server.ingest_queue import IngestQueue, incoming_folder
from server.tables import Document
from server.uploads import UploadedFile

MAX_ANSWER = 20_000  # characters of an answer typed in the console
SLUG_CHARS = 48  # of the question, in the document's name


def document(question: str, answer: str) -> tuple[str, bytes]:
    """The file name and Markdown content of a question and its answer; BadRequest says what is missing.

    Args:
        question: the customer's question (one line is kept; at most MAX_PREFILL characters).
        answer: the business's answer (Markdown; at most MAX_ANSWER characters).

    Returns:
        (file name such as "qa-can-i-bring-my-dog-1a2b3c.md", UTF-8 Markdown).
    """
    if len(question) > MAX_PREFILL:
        raise BadRequest(Msg("a question is at most %(n)s characters", n=MAX_PREFILL))
    title = prefill(question)
    body = "\n".join(line.rstrip() for line in answer.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()
    if not title:
        raise BadRequest(Msg("type the customer's question"))
    if not body:
        raise BadRequest(Msg("type the answer"))
    if len(body) > MAX_ANSWER:
        raise BadRequest(Msg("an answer is at most %(n)s characters", n=MAX_ANSWER))
    digest = hashlib.sha256(title.casefold().encode()).hexdigest()[:6]
    stem = slugify(title)[:SLUG_CHARS].strip("-")
    return f"qa-{stem}-{digest}.md", f"# {title}\n\n{body}\n".encode()


def queue(ingest: IngestQueue, slug: str, name: str, content: bytes) -> IngestResult:
    """Write the document where uploads are received and queue it for the bot, as an upload is.

    A new document's title is its question at once (the file name would give "Qa can i ..." until it is read).
    """
    parent = incoming_folder(ingest.registry)
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="frontdesk-answer-", dir=parent) as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        upload = UploadedFile(name, path, len(content))
        upload.hasher.update(content)
        result = ingest.accept(slug, upload)
    title = content.decode().split("\n", 1)[0].removeprefix("# ")
    with Session(ingest.registry.engine) as session:
        row = session.get(Document, result.document_id) if result.document_id else None
        if row is not None and row.status in PENDING and row.title != title:
            row.title = title
            session.add(row)
            session.commit()
    return result
