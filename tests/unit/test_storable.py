"""What a handler returns is made storable before it is written: PostgreSQL refuses
NUL, lone surrogates and non-finite numbers in JSONB, and one refused outcome would fail
every other outcome written in the same batch."""

from __future__ import annotations

import json
import math

from shared.repository import UNSTORABLE, as_json, storable
from worker.execution import capped_result, error_of


def test_unstorable_characters_and_numbers_are_replaced_at_any_depth() -> None:
    value = {"a\x00": ["x\x00y", {"deep": "\ud800"}], "n": math.inf, "m": -math.nan, "ok": 1.5}
    assert storable(value) == {
        "a\ufffd": ["x\ufffdy", {"deep": "\ufffd"}],
        "n": None,
        "m": None,
        "ok": 1.5,
    }


def test_a_handler_result_is_stored_without_unstorable_text() -> None:
    result = capped_result({"out": "bad\x00byte", "ratio": float("nan"), "when": object})
    assert result is not None
    encoded = as_json(result)
    assert encoded is not None
    assert "\\u0000" not in encoded
    assert "NaN" not in encoded
    assert result["out"] == "bad\ufffdbyte"
    assert result["ratio"] is None
    assert isinstance(result["when"], str)  # default=str, as before


def test_an_error_message_is_stored_without_unstorable_text() -> None:
    error = error_of("exception", "ValueError: \x00 in \udcff input")
    assert not UNSTORABLE.search(error["message"])
    assert json.loads(json.dumps(error)) == error
