"""One screenshot folder for every browser test: $FRONTDESK_ARTIFACTS_DIR, else <repo>/artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import conftest
from tests.e2e.conftest import screenshot_dir


def test_the_environment_names_the_folder_and_it_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = tmp_path / "ci" / "shots"
    monkeypatch.setenv("FRONTDESK_ARTIFACTS_DIR", str(wanted))
    assert screenshot_dir() == wanted and wanted.is_dir()


def test_the_default_is_the_repository_artifacts_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (conftest.REPO / "pyproject.toml").is_file() and (conftest.REPO / "tests" / "e2e").is_dir()
    monkeypatch.delenv("FRONTDESK_ARTIFACTS_DIR", raising=False)
    monkeypatch.setenv("FRONTDESK_ARTIFACTS", str(tmp_path / "old"))  # the retired name is not read
    monkeypatch.setattr(conftest, "REPO", tmp_path)
    assert screenshot_dir() == tmp_path / "artifacts" / "screenshots"
    assert (tmp_path / "artifacts" / "screenshots").is_dir() and not (tmp_path / "old").exists()
