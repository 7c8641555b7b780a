"""The outbound request guard: refused addresses and schemes, every resolved address checked, the
private-network setting and allow-lists, and connections pinned to the checked address."""

from __future__ import annotations

import ipaddress

import pytest

from bot import netguard
from bot.netguard import BlockedURL, NetPolicy, check_url, refusal


def resolving(mapping: dict[str, list[str]]) -> NetPolicy:
    return NetPolicy(resolver=lambda host, port: mapping[host])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[::1]/", "loopback"),
        ("http://[fd00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback (inside ::ffff:7f00:1)"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number resolves as loopback
    ],
)
def test_refused_addresses(url: str, reason: str) -> None:
    policy = NetPolicy(resolver=lambda host, port: ["127.0.0.1"])  # only used for the numeric form
    with pytest.raises(BlockedURL) as caught:
        check_url(url, policy)
    assert f"is a {reason} address" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("/relative", "only http and https"),
        ("http:///nohost", "has no host"),
        ("http://user:pw@example.com/", "credentials in the URL"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_refused_urls(url: str, message: str) -> None:
    with pytest.raises(BlockedURL, match=message):
        check_url(url, resolving({"example.com": ["93.184.215.14"]}))


def test_a_public_host_passes_with_every_address() -> None:
    target = check_url("https://API.example.com/v1", resolving({"api.example.com": ["93.184.215.14", "2606:2800::1"]}))
    assert (target.scheme, target.host, target.port) == ("https", "api.example.com", 443)
    assert target.addresses == ("93.184.215.14", "2606:2800::1")
    assert target.netloc == "api.example.com"
    assert check_url("http://example.com:8080/", resolving({"example.com": ["93.184.215.14"]})).netloc == (
        "example.com:8080"
    )


def test_a_hostname_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(BlockedURL, match=r"internal\.example \(10\.0\.0\.5\) is a private address"):
        check_url("https://internal.example/", resolving({"internal.example": ["10.0.0.5"]}))


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    policy = resolving({"mixed.example": ["93.184.215.14", "127.0.0.1"]})
    with pytest.raises(BlockedURL, match="loopback"):
        check_url("https://mixed.example/", policy)


def test_allow_private_networks_lets_loopback_and_rfc1918_through_but_not_metadata() -> None:
    policy = NetPolicy(allow_private=True)
    assert check_url("http://127.0.0.1:9000/", policy).addresses == ("127.0.0.1",)
    assert check_url("http://10.1.2.3/", policy).addresses == ("10.1.2.3",)
    assert check_url("http://[::1]:9000/", policy).addresses == ("::1",)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://224.0.0.1/"):
        with pytest.raises(BlockedURL):
            check_url(url, policy)


def test_allow_lists_by_network_and_by_host() -> None:
    by_network = NetPolicy(allow_networks=netguard.parse_networks(["10.20.0.0/16", "169.254.10.0/24"]))
    assert check_url("http://10.20.3.4/", by_network).addresses == ("10.20.3.4",)
    assert check_url("http://169.254.10.9/", by_network).addresses == ("169.254.10.9",)
    with pytest.raises(BlockedURL):
        check_url("http://10.21.0.1/", by_network)
    by_host = NetPolicy(allow_hosts=frozenset({"erp.internal"}), resolver=lambda h, p: ["10.9.9.9"])
    assert check_url("http://ERP.internal/", by_host).addresses == ("10.9.9.9",)
    with pytest.raises(ValueError, match="not an IP network"):
        netguard.parse_networks(["10.0.0.0/33"])


def test_unresolvable_hosts_are_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise BlockedURL(f"cannot resolve host {host!r}")

    with pytest.raises(BlockedURL, match="cannot resolve"):
        check_url("https://nowhere.invalid/", NetPolicy(resolver=fail))
    with pytest.raises(BlockedURL, match="resolves to no address"):
        check_url("https://empty.example/", resolving({"empty.example": []}))


def test_refusal_unwraps_ipv6_forms_that_carry_ipv4() -> None:
    assert refusal(ipaddress.ip_address("2002:7f00:1::")) == "loopback (inside 2002:7f00:1::)"  # 6to4 of 127.0.0.1
    assert refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert refusal(ipaddress.ip_address("2001:4860:4860::8888")) is None


def test_action_settings_build_the_policy_and_refuse_a_bad_network() -> None:
    from pydantic import ValidationError

    from bot.action_settings import ActionSettings

    settings = ActionSettings(allow_private_networks=True, allow_networks=["10.0.0.0/8"], allow_hosts=["ERP.Local."])
    policy = settings.policy()
    assert policy.allow_private and policy.allow_hosts == frozenset({"erp.local"})
    assert policy.allow_networks == (ipaddress.ip_network("10.0.0.0/8"),)
    assert ActionSettings().policy() == NetPolicy()
    with pytest.raises(ValidationError, match="not an IP network"):
        ActionSettings(allow_networks=["10.0.0.0/33"])
