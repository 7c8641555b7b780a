"""The console's "Speak replies" control on the widget page: shown, saved through the real form, refused when wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server import widget
from server.app import create_app
from server.context import Services
from server.tables import AuditEvent, Bot
from tests.conftest import ConsoleTestClient, console_auth
from tests.server.test_widget import LOGINS, make_bot, widget_services

FORM = {"color": "#336699", "position": "right", "launcher_label": "Help", "csat_on_close": "true"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    services = widget_services(tmp_path_factory.mktemp("speak-replies"))
    yield services
    services.close()


@pytest.fixture()
def client(services: Services) -> Iterator[TestClient]:
    with ConsoleTestClient(create_app(services.settings, services)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def cookie(services: Services) -> dict[str, str]:
    """The owner's session cookie only: the CSRF token must come from the page's own form field."""
    return {"Cookie": f"frontdesk_session={console_auth(services, LOGINS['owner'][0]).cookie}"}


def selected(page: str) -> str:
    """The value of the option selected in the speak_replies select."""
    select_html = page.split('name="speak_replies"', 1)[1].split("</select>", 1)[0]
    chosen = re.findall(r'<option value="([^"]*)" selected>', select_html)
    assert len(chosen) == 1, select_html
    return chosen[0]


def form_token(page: str) -> str:
    """The CSRF token the page's settings form carries."""
    form = page.split('action="/admin/bots/', 1)[1]
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]


def speak_setting(services: Services, bot: Bot) -> str | None:
    with Session(services.engine) as session:
        return widget.settings_of(session.get(Bot, bot.id)).speak_replies


def test_the_page_shows_every_mode_and_the_server_default(client, services, cookie) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(services)
    page = client.get(f"/admin/bots/{bot.slug}/widget", headers=cookie)
    assert page.status_code == 200
    select_html = page.text.split('name="speak_replies"', 1)[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"', select_html)
    assert options == ["", "never", "when_spoken", "always"]
    assert selected(page.text) == ""  # nothing stored: the server default
    assert "Server default (When the customer spoke)" in page.text  # FRONTDESK_VOICE__REPLY_AUDIO's default


@pytest.mark.parametrize("mode", ["always", "never", "when_spoken"])
def test_saving_a_mode_through_the_form_persists_it(client, services, cookie, mode: str) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(services, voice=True)
    url = f"/admin/bots/{bot.slug}/widget"
    token = form_token(client.get(url, headers=cookie).text)
    saved = client.post(url, data={**FORM, "voice": "true", "speak_replies": mode, "csrf_token": token},
                        headers=cookie, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert speak_setting(services, bot) == mode
    reloaded = client.get(url, headers=cookie)
    assert selected(reloaded.text) == mode
    settings = widget.settings_of(stored_bot(services, bot))
    assert settings.voice is True and settings.color == "#336699"  # the rest of the form saved with it
    with Session(services.engine) as session:
        query = select(AuditEvent).where(AuditEvent.action == "widget.save", AuditEvent.target == bot.slug)
        entry = session.exec(query).all()
    assert entry and entry[-1].details["speak_replies"] == mode
    # Back to the server default: the empty option stores None.
    token = form_token(reloaded.text)
    client.post(url, data={**FORM, "speak_replies": "", "csrf_token": token}, headers=cookie)
    assert speak_setting(services, bot) is None
    assert selected(client.get(url, headers=cookie).text) == ""


def test_an_invalid_mode_is_refused_and_nothing_changes(client, services, cookie) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(services, speak_replies="always", greeting="Before")
    url = f"/admin/bots/{bot.slug}/widget"
    token = form_token(client.get(url, headers=cookie).text)
    bad = client.post(url, data={**FORM, "greeting": "After", "speak_replies": "sometimes", "csrf_token": token},
                      headers=cookie, follow_redirects=False)
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text and "speak_replies" in bad.text
    settings = widget.settings_of(stored_bot(services, bot))
    assert settings.speak_replies == "always" and settings.greeting == "Before"


def test_a_post_without_the_csrf_token_changes_nothing(client, services, cookie) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(services, speak_replies="never")
    refused = client.post(f"/admin/bots/{bot.slug}/widget", data={**FORM, "speak_replies": "always"},
                          headers=cookie, follow_redirects=False)
    assert refused.status_code == 403
    assert speak_setting(services, bot) == "never"


def test_the_page_says_when_the_server_cannot_speak(services, cookie) -> None:  # type: ignore[no-untyped-def]
    from bot.voice import VoiceEngine
    from server.voice_turns import VoiceService

    bot = make_bot(services)
    app = create_app(services.settings, services)
    with ConsoleTestClient(app) as client:
        url = f"/admin/bots/{bot.slug}/widget"
        assert "Speech output is off" not in client.get(url, headers=cookie).text  # espeak-ng by default
        muted = services.settings.voice.model_copy(update={"tts": "none"})
        app.state.voice = VoiceService(app.state.chat, VoiceEngine(muted, services.settings.data_dir / "models"))
        assert "Speech output is off on this server" in client.get(url, headers=cookie).text


def stored_bot(services: Services, bot: Bot) -> Bot:
    with Session(services.engine) as session:
        return session.get(Bot, bot.id)
