"""The ``http`` handler's address check with the real resolver: one message for a name
that does not resolve and one that resolves to a refused address, naming neither the
address nor the resolver's answer; the port policy before any query (M8)."""

from __future__ import annotations

import pytest

from shared.netpolicy import NetworkPolicy
from shared.run_context import JobFailed
from worker.handlers.http import checked_address

PRODUCTION = NetworkPolicy(allow_private=False, ports=frozenset({80, 443}))


def refusal(host: str, port: int) -> str:
    with pytest.raises(JobFailed) as caught:
        checked_address(host, port, PRODUCTION)
    return caught.value.message


def test_unresolvable_and_private_names_get_the_same_message() -> None:
    missing = refusal("no-such-host.invalid", 443)
    private = refusal("localhost", 443)
    assert "127.0.0.1" not in private
    assert "::1" not in private
    assert missing.replace("no-such-host.invalid", "H") == private.replace("localhost", "H")
    assert "resolve" not in missing
    assert "Name or service" not in missing


def test_a_port_outside_chronos_http_allowed_ports_is_refused() -> None:
    assert "CHRONOS_HTTP_ALLOWED_PORTS" in refusal("example.com", 8080)
