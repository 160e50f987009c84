"""Which addresses http jobs may call."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.jobtypes import validate_http
from shared.netpolicy import NetworkPolicy, NetworkPolicyError, parse_networks
from shared.settings import SettingsError, load_settings

DEVELOPMENT = NetworkPolicy(allow_private=True)
PRODUCTION = NetworkPolicy(allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "100.100.100.200",
    ],
)
def test_metadata_and_link_local_are_refused_everywhere(address: str) -> None:
    for policy in (DEVELOPMENT, PRODUCTION):
        with pytest.raises(NetworkPolicyError):
            policy.check(address)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1"]
)
def test_private_ranges_are_refused_in_production_only(address: str) -> None:
    DEVELOPMENT.check(address)
    with pytest.raises(NetworkPolicyError, match="not allowed"):
        PRODUCTION.check(address)


def test_public_addresses_are_allowed() -> None:
    PRODUCTION.check("93.184.216.34")
    PRODUCTION.check("2606:2800:220:1::1")


def test_operators_can_allow_a_private_range_in_production() -> None:
    policy = NetworkPolicy(allow_private=False, allowed=parse_networks("10.20.0.0/16", "X"))
    policy.check("10.20.3.4")
    with pytest.raises(NetworkPolicyError):
        policy.check("10.21.0.1")


def test_a_denial_wins_over_an_allowance_and_metadata_cannot_be_allowed() -> None:
    policy = NetworkPolicy(
        allow_private=True,
        allowed=parse_networks("10.0.0.0/8, 169.254.0.0/16", "X"),
        denied=parse_networks("10.9.0.0/16", "X"),
    )
    with pytest.raises(NetworkPolicyError, match="not allowed"):
        policy.check("10.9.1.1")
    with pytest.raises(NetworkPolicyError):
        policy.check("169.254.169.254")


def test_settings_build_the_policy_from_the_environment() -> None:
    settings = load_settings(
        {
            "CHRONOS_ENV": "production",
            "CHRONOS_JWT_SECRET": "s" * 40,
            "CHRONOS_HTTP_ALLOWED_NETWORKS": "10.20.0.0/16",
        }
    )
    settings.network_policy.check("10.20.0.5")
    with pytest.raises(NetworkPolicyError):
        settings.network_policy.check("127.0.0.1")


def test_a_bad_network_setting_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CHRONOS_HTTP_DENIED_NETWORKS"):
        load_settings({"CHRONOS_HTTP_DENIED_NETWORKS": "10.0.0.0/8,nonsense"})


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://0.0.0.0:80/"]
)
def test_submit_refuses_a_metadata_or_link_local_literal(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_http({"url": url})
    assert caught.value.field == "url"


def test_submit_leaves_names_and_private_literals_to_the_worker() -> None:
    assert validate_http({"url": "http://127.0.0.1:8080/x"})["url"] == "http://127.0.0.1:8080/x"
    assert validate_http({"url": "https://example.com/"})["method"] == "POST"


PRODUCTION = NetworkPolicy(allow_private=False)
DEVELOPMENT = NetworkPolicy(allow_private=True)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::a00:5",  # local-use NAT64
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:0a00:0005::1",  # 6to4 of 10.0.0.5
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:0:7f00:1",  # IPv4-translated
        "::ffff:10.0.0.5",  # IPv4-mapped
        "fec0::1",  # site-local
        "2001::1",  # Teredo
        "198.18.0.1",  # benchmarking
        "192.0.0.8",  # IETF protocol assignments
        "240.0.0.1",  # reserved
        "192.0.2.1",  # documentation
        "2001:db8::1",  # documentation
        "100::1",  # discard-only
    ],
)
def test_embedded_and_special_purpose_addresses_are_refused_in_production(address: str) -> None:
    """M8: every IPv4 embedding is checked as its IPv4 address, and only global
    addresses may be called; the message names no address."""
    with pytest.raises(NetworkPolicyError) as caught:
        PRODUCTION.check(address)
    assert str(caught.value) == "destination not allowed"


@pytest.mark.parametrize(
    "address", ["2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe", "::169.254.169.254"]
)
def test_embedded_metadata_addresses_are_refused_even_in_development(address: str) -> None:
    with pytest.raises(NetworkPolicyError):
        DEVELOPMENT.check(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_global_addresses_are_allowed(address: str) -> None:
    PRODUCTION.check(address)


def test_the_port_policy() -> None:
    """M8: CHRONOS_HTTP_ALLOWED_PORTS; none given means any port."""
    policy = NetworkPolicy(ports=frozenset({80, 443}))
    policy.check("8.8.8.8", 443)
    with pytest.raises(NetworkPolicyError, match="port 8080"):
        policy.check("8.8.8.8", 8080)
    NetworkPolicy().check("8.8.8.8", 8080)
