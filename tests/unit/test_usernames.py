"""L5: usernames are folded in one place, the same way for lookups and throttling."""

from __future__ import annotations

import pytest

from api.throttle import LoginThrottle, address_bucket
from shared.usernames import fold_username, is_storable


@pytest.mark.parametrize("spelling", ["admin", "Admin", "ADMIN", "\uff21\uff44\uff4d\uff49\uff4e"])
def test_case_and_full_width_spellings_are_one_name(spelling: str) -> None:
    assert fold_username(spelling) == "admin"


def test_dotted_capital_i_does_not_fold_onto_plain_i() -> None:
    """PostgreSQL's lower('İ') is 'i'; Python's folding keeps the dot, so 'admİn' is not a
    name any account can have, and no fresh counter leads to 'admin'."""
    folded = fold_username("adm\u0130n")
    assert folded != "admin"
    assert not is_storable(folded)


def test_folding_is_stable() -> None:
    for name in ["Straße", "ǅemal", "\u212aelvin", "ﬀoo"]:
        assert fold_username(fold_username(name)) == fold_username(name)


def test_ipv6_addresses_share_a_bucket_per_64() -> None:
    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff::9")
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_bucket("192.0.2.7") == "192.0.2.7"
    assert address_bucket("unknown") == "unknown"


def test_the_pair_key_is_the_folded_name_and_the_bucket() -> None:
    assert LoginThrottle.pair_key("ADMIN", "2001:db8::/64") == LoginThrottle.pair_key(
        "admin", "2001:db8::/64"
    )
