"""Messaging-platform channels: one module per platform (verify, parse, send)."""

from __future__ import annotations

import importlib

BUILTINS = ("telegram", "slack", "meta", "line", "wechat", "generic")


def load_builtins() -> None:
    """Import the built-in platform modules so they register themselves."""
    for name in BUILTINS:
        importlib.import_module(f"server.channels.{name}")
