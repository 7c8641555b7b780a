"""Encryption at rest for stored secrets (channel credentials and other tokens).

Secrets are sealed with Fernet (AES-128-CBC + HMAC-SHA256). The Fernet key is derived with HKDF from
`FRONTDESK_SECRET_KEY`; `FRONTDESK_OLD_SECRET_KEYS` lists earlier keys that can still open old
values, which is how a key is rotated (see docs/privacy.md). Without a configured key (dev only) a
random key is created once in the data folder and reused.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.errors import FrontdeskError
from server.settings import Settings

SEALED = "fernet"  # the one key of a sealed JSON value: {"fernet": "<token>"}
DEV_KEY_FILE = "secret.key"


class SecretsError(FrontdeskError):
    """A stored secret cannot be opened with any configured key."""

    status = 500
    code = "secrets_unreadable"


def _fernet(master: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"frontdesk secret box v1").derive(
        master.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    """Seals and opens secrets with the current key; older keys only open."""

    def __init__(self, current: str, old: list[str] | None = None) -> None:
        if not current:
            raise ValueError("a secret box needs a non-empty key")
        self._fernet = MultiFernet([_fernet(current), *(_fernet(k) for k in old or [] if k)])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box for these settings: FRONTDESK_SECRET_KEY, else the dev key file in the data folder."""
        old = [k.get_secret_value() for k in settings.old_secret_keys]
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value(), old)
        return cls(dev_key(settings.data_dir), old)

    def encrypt(self, plain: bytes) -> str:
        """A token that only a box holding the current key (now or later as an old key) can open."""
        return self._fernet.encrypt(plain).decode()

    def decrypt(self, token: str) -> bytes:
        """The plain bytes of a token sealed with the current or an old key."""
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise SecretsError(
                "a stored secret cannot be decrypted: FRONTDESK_SECRET_KEY changed without listing the old key "
                "in FRONTDESK_OLD_SECRET_KEYS"
            ) from exc

    def seal(self, values: dict[str, Any]) -> dict[str, str]:
        """A JSON-storable sealed form of a dict of secrets."""
        return {SEALED: self.encrypt(json.dumps(values, sort_keys=True).encode())}

    def open(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The dict a sealed value holds; an unsealed (older, plain) dict is returned as it is."""
        if set(stored) != {SEALED}:
            return dict(stored)
        opened = json.loads(self.decrypt(str(stored[SEALED])))
        if not isinstance(opened, dict):
            raise SecretsError("a stored secret is not a JSON object")
        return opened

    def reseal(self, stored: dict[str, Any]) -> dict[str, str]:
        """The same secrets sealed with the current key (key rotation; also seals plain values)."""
        return self.seal(self.open(stored))


def is_sealed(stored: dict[str, Any]) -> bool:
    """Whether a stored JSON value is in sealed form."""
    return set(stored) == {SEALED}


def dev_key(data_dir: Path) -> str:
    """The dev-only key kept in the data folder, created (mode 0600) on first use."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
