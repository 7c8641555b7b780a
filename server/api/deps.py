"""Dependencies that routes take through Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from server.chat import ChatService
from server.context import Services
from server.hub import Hub


def get_services(request: Request) -> Services:
    """The process's services, built in the lifespan."""
    return request.app.state.services


def get_chat(request: Request) -> ChatService:
    """The chat service, built in the lifespan."""
    return request.app.state.chat


def get_hub(request: Request) -> Hub:
    """The live-event hub, built in the lifespan."""
    return request.app.state.hub


def get_session(request: Request):  # type: ignore[no-untyped-def]
    """A database session for one request."""
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        yield session


ServicesDep = Annotated[Services, Depends(get_services)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
HubDep = Annotated[Hub, Depends(get_hub)]
SessionDep = Annotated[Session, Depends(get_session)]
