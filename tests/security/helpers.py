"""What the security tests share: the one way they sign in, and how many examples to fuzz."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.security.conftest import LOGINS


def auth_headers(client: TestClient, tenant: str = "acme", console: bool = False) -> dict[str, str]:
    """Headers that authenticate requests of `client` as the owner of `tenant`.

    The only place the security tests sign in. API routes get an admin-role API key
    (`Authorization: Bearer fd_...`); console pages (`console=True`) get a session cookie and its
    CSRF token, as a signed-in browser sends them. If sign-in changes again, change only this.
    """
    from admin import api_keys, sessions
    from admin.csrf import HEADER
    from server.tables import User

    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.email == LOGINS[tenant][0])).one()
        if console:
            raw, row = sessions.start(session, user, "testclient", "security-tests")
            return {"Cookie": f"{sessions.COOKIE}={raw}", HEADER: row.csrf_token}
        key, _ = api_keys.create(session, user, "security tests", "admin")
    return {"Authorization": f"Bearer {key}"}


def fuzz_examples(default: int) -> int:
    """Examples per fuzzed target: `default` in CI, more with FRONTDESK_FUZZ_EXAMPLES=N."""
    raw = os.environ.get("FRONTDESK_FUZZ_EXAMPLES", "")
    return max(int(raw), 1) if raw.strip().isdigit() else default
