"""The console's search tester: what a bot's knowledge search returns for a question, with its scores.

It runs the same search the chat pipeline runs (dense + keyword fusion, the re-ranker when one
is configured) and says whether the best hit is confident enough to answer from, so a business
can check that a newly uploaded document is found before customers ask.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from admin.auth import CurrentUser
from admin.routes import render, tenant_bot
from server.api.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/admin", include_in_schema=False)
MAX_QUERY = 500


@router.get("/bots/{slug}/knowledge/search", response_class=HTMLResponse)
def search_tester(
    slug: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
    k: Annotated[int, Query(ge=1, le=20)] = 5,
) -> HTMLResponse:
    """Search the bot's knowledge as the chat does and show the passages found, best first."""
    bot = tenant_bot(session, user, slug)
    query = " ".join(q.split())
    result = services.runtimes.knowledge(bot.slug).search(query, k) if query else None
    return render(request, "kb_search.html", user=user, bot=bot, q=query, k=k, result=result)
