"""The console's business-hours page and HTTP-action secrets page: render, save, errors, roles, isolation, CSRF."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from server import action_secrets
from server.tables import Bot
from tests.conftest import console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture
HOURS = "/admin/bots/shop/hours"
ACTIONS = "/admin/bots/shop/actions"
GOOD = {
    "timezone": "Europe/Paris", "mon": "09:00-12:30, 13:30-18:00", "sat": "10:00-14:00",
    "holidays": "2026-12-25\n2027-01-01", "offline_message": "Closed; back {{ next_open_text }}.",
    "require_agent_online": "true",
}


def shop(services) -> Bot:  # type: ignore[no-untyped-def]
    with Session(services.engine, expire_on_commit=False) as session:
        return session.exec(select(Bot).where(Bot.slug == "shop")).one()


def stored_secrets(services) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return action_secrets.load_action_secrets(services.engine, services.secrets, shop(services).id)


@pytest.fixture()
def owner(world):  # type: ignore[no-untyped-def]
    return console_auth(world.services, "owner@a.example")


# --- business hours ---


def test_hours_page_renders_and_saving_goes_through_the_api_check(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    assert app_client.get(HOURS, follow_redirects=False).status_code == 303
    page = app_client.get(HOURS, auth=owner)
    assert page.status_code == 200 and "No business hours set: always open" in page.text
    assert "Europe/Paris" in page.text  # the timezone list
    saved = app_client.post(HOURS, data=GOOD, auth=owner, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved")
    stored = shop(world.services).hours
    assert stored == {
        "timezone": "Europe/Paris", "weekly": {"mon": ["09:00-12:30", "13:30-18:00"], "sat": ["10:00-14:00"]},
        "holidays": ["2026-12-25", "2027-01-01"], "offline_message": "Closed; back {{ next_open_text }}.",
        "require_agent_online": True,
    }
    api = app_client.get("/api/v1/bots/shop/hours", auth=owner).json()
    assert api["hours"] == stored
    again = app_client.get(saved.headers["location"], auth=owner)
    assert 'value="09:00-12:30, 13:30-18:00"' in again.text and "Business hours saved." in again.text
    assert "Closed; back {{ next_open_text }}." in again.text
    assert [e.target for e in accounts_helpers.events(world.services, "hours.save")] == ["shop"]

    removed = app_client.post(f"{HOURS}/delete", auth=owner, follow_redirects=False)
    assert removed.status_code == 303 and shop(world.services).hours is None
    assert accounts_helpers.events(world.services, "hours.delete")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "unknown timezone &#39;Mars/Olympus&#39;"),
        ("mon", "09:00-12:00, 11:00-13:00", "hours.weekly.mon: ranges overlap"),
        ("tue", "9am-5pm", "hours.weekly.tue: &#39;9am&#39; is not a time of day"),
        ("wed", "09:00", "must look like &#39;09:00-17:30&#39;"),
        ("holidays", "Christmas", "hours.holidays: &#39;Christmas&#39; is not a date"),
        ("offline_message", "{{ broken ", "bad template in hours.offline_message"),
    ],
)
def test_a_mistake_is_shown_beside_the_form_and_changes_nothing(  # type: ignore[no-untyped-def]
    app_client, world, owner, field: str, value: str, message: str
) -> None:
    response = app_client.post(HOURS, data={**GOOD, field: value}, auth=owner)
    assert response.status_code == 400 and message in response.text
    assert 'role="alert"' in response.text
    assert shop(world.services).hours is None
    if field != "holidays":
        assert re.search(r"2026-12-25\s*2027-01-01", response.text)  # the form keeps what was typed


def test_agents_and_viewers_see_the_hours_read_only(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    app_client.post(HOURS, data=GOOD, auth=owner)
    for role in ("agent", "viewer"):
        auth = console_auth(world.services, f"{role}@a.example")
        page = app_client.get(HOURS, auth=auth)
        assert page.status_code == 200 and "<fieldset disabled>" in page.text and "13:30-18:00" in page.text
        refused = app_client.post(HOURS, data={**GOOD, "timezone": "UTC"}, auth=auth)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert app_client.post(f"{HOURS}/delete", auth=auth).status_code == 403
    assert shop(world.services).hours["timezone"] == "Europe/Paris"


def test_hours_of_another_tenants_bot_are_a_404_and_saving_needs_the_csrf_token(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    stranger = console_auth(world.services, "owner@b.example")
    assert app_client.get(HOURS, auth=stranger).json()["error"]["code"] == "unknown_bot"
    assert app_client.post(HOURS, data=GOOD, auth=stranger).status_code == 404
    no_token = app_client.post(HOURS, data=GOOD, headers={"Cookie": f"frontdesk_session={owner.cookie}"})
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    with_field = app_client.post(
        HOURS, data={**GOOD, "csrf_token": owner.csrf}, headers={"Cookie": f"frontdesk_session={owner.cookie}"},
        follow_redirects=False,
    )
    assert with_field.status_code == 303 and shop(world.services).hours is not None


# --- HTTP action secrets ---


def test_the_signing_secret_is_masked_revealed_on_request_and_rotated(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    page = app_client.get(ACTIONS, auth=owner)
    assert page.status_code == 200 and "None yet" in page.text and page.headers["cache-control"] == "no-store"
    revealed = app_client.post(f"{ACTIONS}/signing-secret/reveal", auth=owner)
    secret = re.search(r'id="signing-secret">([^<]+)<', revealed.text).group(1)  # type: ignore[union-attr]
    assert secret.startswith("whsec_")
    assert secret == action_secrets.signing_secret(Session(world.services.engine), world.services.secrets,
                                                    shop(world.services))
    masked = app_client.get(ACTIONS, auth=owner).text
    assert secret not in masked and secret[-4:] in masked and "whsec_••••" in masked

    rotated = app_client.post(f"{ACTIONS}/signing-secret/rotate", auth=owner)
    new = re.search(r'id="signing-secret">([^<]+)<', rotated.text).group(1)  # type: ignore[union-attr]
    assert new != secret and "not shown again" in rotated.text
    services = world.services
    assert action_secrets.load_signing_secret(services.engine, services.secrets, shop(services).id) == new
    actions = [e.action for e in accounts_helpers.events(world.services, "actions.signing_secret.rotate")]
    assert actions == ["actions.signing_secret.rotate"]
    assert accounts_helpers.events(world.services, "actions.signing_secret.reveal")


def test_named_secrets_are_set_listed_by_name_only_and_deleted(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    value = "s3cr3t-value-never-shown"
    saved = app_client.post(f"{ACTIONS}/secrets", data={"name": "CRM_TOKEN", "value": value}, auth=owner,
                            follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=set")
    page = app_client.get(ACTIONS, auth=owner)
    assert 'data-secret="CRM_TOKEN"' in page.text and value not in page.text
    assert stored_secrets(world.services) == {"CRM_TOKEN": value}
    event = accounts_helpers.events(world.services, "actions.secret.set")[0]
    assert event.target == "shop/CRM_TOKEN" and value not in str(event.details)

    bad = app_client.post(f"{ACTIONS}/secrets", data={"name": "1bad name", "value": "x"}, auth=owner)
    assert bad.status_code == 400 and "a secret name is letters" in bad.text
    empty = app_client.post(f"{ACTIONS}/secrets", data={"name": "EMPTY", "value": ""}, auth=owner)
    assert empty.status_code == 400 and "a secret value is 1 to" in empty.text

    deleted = app_client.post(f"{ACTIONS}/secrets/delete", data={"name": "CRM_TOKEN"}, auth=owner,
                              follow_redirects=False)
    assert deleted.status_code == 303
    assert stored_secrets(world.services) == {}
    missing = app_client.post(f"{ACTIONS}/secrets/delete", data={"name": "CRM_TOKEN"}, auth=owner)
    assert missing.status_code == 404 and "no secret named" in missing.text
    assert [e.target for e in accounts_helpers.events(world.services, "actions.secret.delete")] == ["shop/CRM_TOKEN"]


def test_action_secrets_are_for_owners_and_admins_of_the_tenant_only(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    assert app_client.get(ACTIONS, auth=console_auth(world.services, "admin@a.example")).status_code == 200
    for role in ("agent", "viewer"):
        auth = console_auth(world.services, f"{role}@a.example")
        assert app_client.get(ACTIONS, auth=auth).status_code == 403
        assert app_client.post(f"{ACTIONS}/signing-secret/reveal", auth=auth).status_code == 403
        assert app_client.post(f"{ACTIONS}/secrets", data={"name": "X", "value": "y"}, auth=auth).status_code == 403
        assert "/actions" not in app_client.get(HOURS, auth=auth).text  # no link to a page they cannot open
    stranger = console_auth(world.services, "owner@b.example")
    assert app_client.get(ACTIONS, auth=stranger).status_code == 404
    assert app_client.post(f"{ACTIONS}/signing-secret/rotate", auth=stranger).status_code == 404
    cookie_only = {"Cookie": f"frontdesk_session={owner.cookie}"}
    no_token = app_client.post(f"{ACTIONS}/signing-secret/rotate", headers=cookie_only)
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    assert shop(world.services).action_signing_secret is None
