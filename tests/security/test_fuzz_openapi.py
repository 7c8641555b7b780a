"""Schemathesis against the app's own OpenAPI spec, in process: no 5xx, answers match the schema.

Every operation is fuzzed with schema-valid and schema-violating requests, with random path
parameters and with real ones (a real bot, conversation, widget key, channel), signed in and not.
Examples per operation: 25 by default (the module takes about half a minute here);
FRONTDESK_FUZZ_EXAMPLES=N raises it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlmodel import Session, select

from server.app import create_app
from server.tables import Bot, Conversation
from tests.security.conftest import Deployment
from tests.security.helpers import auth_headers, fuzz_examples

EXAMPLES = fuzz_examples(25)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _operations() -> list[Any]:
    """The spec's operations (the spec does not depend on data, so any app's spec will do)."""
    from server.settings import Settings

    app = create_app(Settings(_env_file=None, seed_demo=False))
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def fuzz_client(deployment: Deployment) -> Iterator[TestClient]:
    """One app for the whole module; the lifespan runs once."""
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def real_parameters(deployment: Deployment, fuzz_client: TestClient) -> dict[str, str]:
    """Path parameters that name things that exist, so fuzzing gets past the 404s."""
    turn = fuzz_client.post("/api/v1/bots/acme/messages", json={"text": "how do returns work?"})
    assert turn.status_code == 200, turn.text
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        bot = session.exec(select(Bot).where(Bot.slug == "acme")).one()
        conversation = session.get(Conversation, turn.json()["conversation_id"])
        assert conversation is not None
        customer = conversation.external_user_id or "anonymous"
    generic = deployment.channels["generic"].rsplit("/", 1)[1]
    return {
        "bot_slug": "acme", "conversation_id": turn.json()["conversation_id"], "public_key": bot.public_key,
        "kind": "generic", "channel_id": generic, "doc_slug": "returns", "customer": customer,
        "file_id": "f_0123456789abcdef0123456789abcdef.png",
    }


def _request(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    """Send a schemathesis case through the in-process client."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("allow_redirects", None)
    kwargs.pop("timeout", None)
    kwargs.pop("verify", None)
    return client.request(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_operation_answers_5xx_or_off_schema(
    operation: Any, fuzz_client: TestClient, real_parameters: dict[str, str]
) -> None:
    names = [p.name for p in operation.path_parameters]
    real = {name: real_parameters[name] for name in names if name in real_parameters}
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if real:
        strategies += [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real),
        ]
    signed_in = auth_headers(fuzz_client)

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), authenticated=st.booleans())
    def fuzz(case: Any, authenticated: bool) -> None:
        response = _request(fuzz_client, case, signed_in if authenticated else {})
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        case.validate_response(response, checks=CHECKS)

    fuzz()
