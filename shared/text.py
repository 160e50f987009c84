"""Text that PostgreSQL cannot store, for the API to refuse and the worker to mend."""

from __future__ import annotations

import re

# NUL, and lone UTF-16 surrogates (which JSON's ``\ud800`` escape can carry): PostgreSQL
# refuses both in text and JSONB.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
