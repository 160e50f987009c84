"""What the dashboard shows of a payload: every HTTP header's value, every variable of a
shell job's environment, and any field whose name says it is a secret, masked.

The JSON API returns a payload whole to its owner, who sent it. A dashboard is looked at
over shoulders, shared on screens and screenshotted into tickets, so it shows what a
value is for, not the value (as River's and Oban's dashboards hide job arguments).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "••••••"
# Objects whose every value is masked, whatever its name.
MASKED_OBJECTS = frozenset({"headers", "env"})
SECRET_NAME = re.compile(r"authorization|cookie|token|secret|password|passwd|api[-_]?key", re.I)


def redacted(value: Any, *, masked: bool = False) -> Any:
    """``value`` with the secrets in it masked (all of it, with ``masked``)."""
    if isinstance(value, dict):
        return {key: _field(str(key), item, masked) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, masked=masked) for item in value]
    return MASK if masked else value


def _field(key: str, item: Any, masked: bool) -> Any:
    secret = masked or bool(SECRET_NAME.search(key))
    if isinstance(item, dict | list):
        return redacted(item, masked=secret or key in MASKED_OBJECTS)
    return MASK if secret else item
