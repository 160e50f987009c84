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
    with pytest.raises(NetworkPolicyError, match="private"):
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
    with pytest.raises(NetworkPolicyError, match="DENIED"):
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
