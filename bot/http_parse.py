"""Parsing the http rule action: its JSON checked at save time, with a clear message per mistake.

The action itself (sending, retries, signing, the trace) is bot/http_action.py. Docs: docs/rules.md.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Template

from bot.actions import PARSERS, Action, compile_template
from bot.errors import ConfigError
from bot.http_action import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    EXPECT,
    FORBIDDEN_HEADERS,
    KEYS,
    MAX_RETRIES,
    MAX_TIMEOUT,
    METHODS,
    RESERVED_NAMES,
    HttpAction,
)

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def parse_http(rule: str, spec: Any) -> HttpAction:
    """Build an http action from its JSON; ConfigError names what is wrong."""
    where = f"rule {rule!r}: http"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be an object with at least a url")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown field(s) {unknown}; known: {sorted(KEYS)}")
    method = spec.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ConfigError(f"{where}.method must be one of {list(METHODS)}, not {method!r}")
    if not isinstance(spec.get("url"), str) or not spec["url"].strip():
        raise ConfigError(f"{where} needs a url")
    _check_literal_url(where, spec["url"])
    return HttpAction(
        method=method.upper(),
        url=compile_template(rule, "http.url", spec["url"]),
        headers=_headers(rule, where, spec.get("headers", {})),
        body=_body(rule, spec["body"]) if spec.get("body") is not None else None,
        timeout=_number(where, "timeout", spec.get("timeout", DEFAULT_TIMEOUT), 0.1, MAX_TIMEOUT),
        retries=int(_number(where, "retries", spec.get("retries", DEFAULT_RETRIES), 0, MAX_RETRIES, whole=True)),
        retry_post=_flag(where, "retry_post", spec.get("retry_post", False)),
        save_as=_save_as(where, spec.get("save_as", "response")),
        accept_status=_statuses(where, spec.get("accept_status", [])),
        expect=_expect(where, spec.get("expect", "any")),
        on_error=_on_error(rule, where, spec.get("on_error", [])),
    )


def _check_literal_url(where: str, url: str) -> None:
    """A URL must start with http:// or https:// (or a template that produces the whole URL)."""
    head = url.strip()
    if head.startswith("{{") or head.startswith("{%"):
        return
    if not re.match(r"^https?://[^/\s{}]", head, re.IGNORECASE):
        raise ConfigError(f"{where}.url must start with http:// or https:// and a host, not {url[:40]!r}")


def _headers(rule: str, where: str, spec: Any) -> dict[str, Template]:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}.headers must be an object of header names to templates")
    headers = {}
    for name, value in spec.items():
        if not _HEADER_NAME.match(str(name)) or name.lower() in FORBIDDEN_HEADERS:
            raise ConfigError(f"{where}.headers: {name!r} is not a header an action may set")
        headers[name] = compile_template(rule, f"http.headers.{name}", value)
    return headers


def _body(rule: str, value: Any, path: str = "http.body") -> Any:
    if isinstance(value, str):
        return compile_template(rule, path, value)
    if isinstance(value, dict):
        return {str(k): _body(rule, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_body(rule, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ConfigError(f"rule {rule!r}: {path} must be JSON")


def _number(where: str, name: str, value: Any, low: float, high: float, whole: bool = False) -> float:
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "whole number" if whole else "number"
        raise ConfigError(f"{where}.{name} must be a {kind} from {low:g} to {high:g}")
    return float(value)


def _flag(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{name} must be true or false")
    return value


def _save_as(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value in RESERVED_NAMES:
        raise ConfigError(f"{where}.save_as must be a variable name (letters, digits, _) other than "
                          f"{sorted(RESERVED_NAMES)}")
    return value


def _statuses(where: str, value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in value
    ):
        raise ConfigError(f"{where}.accept_status must be a list of HTTP status codes like [404]")
    return frozenset(value)


def _expect(where: str, value: Any) -> str:
    if value not in EXPECT:
        raise ConfigError(f"{where}.expect must be one of {list(EXPECT)}")
    return str(value)


def _on_error(rule: str, where: str, spec: Any) -> list[Action]:
    if not isinstance(spec, list):
        raise ConfigError(f"{where}.on_error must be a list of actions")
    actions: list[Action] = []
    for i, item in enumerate(spec):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{where}.on_error[{i}] must be an object with one key, the action's kind")
        kind, value = next(iter(item.items()))
        if kind not in PARSERS:
            raise ConfigError(f"{where}.on_error[{i}]: {kind!r} cannot be used here; use one of {sorted(PARSERS)}")
        actions.append(PARSERS[kind](rule, value))
    kinds = [a.kind for a in actions]
    if "knowledge" in kinds and kinds.index("knowledge") != len(kinds) - 1:
        raise ConfigError(f"{where}.on_error: knowledge must be the last action")
    return actions
