"""Secrets at rest: sealed in the database, opened with the current or an old key, rotated by the CLI."""

from __future__ import annotations

import json
import stat

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from server.channels.configs import add_channel, list_channels
from server.cli import app
from server.context import Services
from server.secret_box import SecretBox, SecretsError, dev_key, is_sealed
from server.settings import Settings
from server.tables import Bot, ChannelConfig, Tenant
from server.widget import set_identity_secret

SECRET = "telegram-secret-token-value-1234567890"


def test_seal_and_open_round_trip() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal({"secret_token": SECRET, "n": 3})
    assert is_sealed(sealed)
    assert SECRET not in json.dumps(sealed)
    assert box.open(sealed) == {"secret_token": SECRET, "n": 3}


def test_wrong_key_is_a_clear_error() -> None:
    sealed = SecretBox("a" * 40).seal({"x": "y"})
    with pytest.raises(SecretsError, match="FRONTDESK_OLD_SECRET_KEYS"):
        SecretBox("b" * 40).open(sealed)


def test_old_key_opens_and_reseal_moves_to_the_new_key() -> None:
    old, new = "old" * 12, "new" * 12
    sealed = SecretBox(old).seal({"x": "y"})
    rotated = SecretBox(new, [old])
    assert rotated.open(sealed) == {"x": "y"}
    resealed = rotated.reseal(sealed)
    assert SecretBox(new).open(resealed) == {"x": "y"}


def test_plain_legacy_values_pass_through_and_get_sealed_on_reseal() -> None:
    box = SecretBox("k" * 40)
    assert box.open({"bot_token": "abc"}) == {"bot_token": "abc"}
    assert is_sealed(box.reseal({"bot_token": "abc"}))


def test_dev_key_is_created_once_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = dev_key(tmp_path)
    assert dev_key(tmp_path) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def _services(tmp_path, **env: str) -> Services:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, seed_demo=False, **env)
    return Services.open(settings)


def test_channel_secrets_are_encrypted_in_the_database(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    svc = _services(tmp_path, secret_key="s" * 40)
    try:
        with Session(svc.engine) as session:
            tenant = Tenant(name="acme")
            session.add(tenant)
            session.flush()
            bot = Bot(tenant_id=tenant.id, slug="demo", name="Demo")
            session.add(bot)
            session.commit()
            identity = set_identity_secret(session, svc.secrets, bot)
        add_channel(svc.engine, svc.secrets, "demo", "telegram", "tg", {"bot_token": "1:AA", "secret_token": SECRET})
        with Session(svc.engine) as session:
            stored = session.exec(select(ChannelConfig)).one().config
        assert is_sealed(stored) and SECRET not in json.dumps(stored)
        assert [c.name for c in list_channels(svc.engine, svc.secrets, "demo")] == ["tg"]
    finally:
        svc.close()

    # rotate: new key current, old key listed; the CLI re-encrypts; then the old key can go
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_SEED_DEMO", "false")
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", "t" * 40)
    monkeypatch.setenv("FRONTDESK_OLD_SECRET_KEYS", json.dumps(["s" * 40]))
    result = CliRunner().invoke(app, ["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "1 channel" in result.output and "1 widget identity secret" in result.output
    svc = _services(tmp_path, secret_key="t" * 40)
    try:
        with Session(svc.engine) as session:
            stored = session.exec(select(ChannelConfig)).one().config
            sealed_identity = session.exec(select(Bot)).one().identity_secret
        assert SecretBox("t" * 40).open(stored)["secret_token"] == SECRET
        assert SecretBox("t" * 40).open(sealed_identity or {})["secret"] == identity
        with pytest.raises(SecretsError):
            SecretBox("s" * 40).open(stored)
        with pytest.raises(SecretsError):
            SecretBox("s" * 40).open(sealed_identity or {})
    finally:
        svc.close()
