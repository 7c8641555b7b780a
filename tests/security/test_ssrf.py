"""SSRF: the outbound guard (bot/netguard.py) refuses every internal destination, however it is spelled.

HTTP rule actions call URLs only through `check_url`, connecting to the addresses it returns, so
these cases are the whole defence. There is no URL ingestion in Frontdesk yet; when it comes, it must
call `check_url` too (docs/security.md). Numeric host spellings use the system resolver, which
answers them without a network; names use a fake resolver.
"""

from __future__ import annotations

import pytest

from bot.netguard import BlockedURL, NetPolicy, check_url

DEFAULT = NetPolicy()


def resolving(*addresses: str) -> NetPolicy:
    """A policy whose resolver answers every name with these addresses."""
    return NetPolicy(resolver=lambda host, port: list(addresses))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://017700000001/",
        "http://0.0.0.0:8000/", "http://[::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/", "http://[2002:7f00:1::]/", "http://10.0.0.5/", "http://172.16.3.4/",
        "http://192.168.1.1/", "http://100.64.0.1/", "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://224.0.0.1/",
        "http://255.255.255.255/", "https://127.0.0.1:443/", "HTTP://127.0.0.1/", "http://127.0.0.1./",
    ],
)
def test_internal_addresses_are_refused_in_any_spelling(url: str) -> None:
    with pytest.raises(BlockedURL):
        check_url(url, DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://example.com/", "dict://127.0.0.1:11211/",
        "javascript:alert(1)", "//example.com/", "/relative", "http://", "http:///path",
        "http://user:pw@example.com/", "http://example.com@127.0.0.1/", "http://[::1/",
    ],
)
def test_other_schemes_credentials_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        check_url(url, resolving("93.184.216.34"))


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("93.184.216.34", "10.0.0.1"), ("169.254.169.254",), ("::1",), ("::ffff:10.0.0.1",),
     ("fe80::1%eth0",), ("not-an-address",)],
)
def test_a_name_resolving_to_any_internal_address_is_refused(addresses: tuple[str, ...]) -> None:
    """localhost-style names, split answers (one public, one private) and DNS rebinding tricks."""
    with pytest.raises(BlockedURL):
        check_url("https://api.shop.example/hook", resolving(*addresses))


def test_a_public_address_passes_and_is_pinned() -> None:
    target = check_url("https://api.shop.example/hook", resolving("93.184.216.34"))
    assert target.addresses == ("93.184.216.34",) and target.host == "api.shop.example"


def test_allowing_private_networks_still_refuses_cloud_metadata() -> None:
    on_prem = NetPolicy(allow_private=True)
    assert check_url("http://10.0.0.5/", on_prem).addresses == ("10.0.0.5",)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://0.0.0.0/"):
        with pytest.raises(BlockedURL):
            check_url(url, on_prem)
