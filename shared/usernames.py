"""The one place where a username becomes the form it is compared in.

PostgreSQL and Python disagree on case: ``lower('İ')`` is ``i`` in PostgreSQL's libc and
builtin providers but ``i̇`` (two code points) in Python, so comparing with SQL ``lower``
while throttling with Python's let ``admİn`` reach ``admin`` through a fresh counter.
Python therefore folds, once, and the database only compares the folded form that
Python stored (``users.username_folded``, unique). NFKC first maps full-width and other
compatibility look-alikes (U+FF21 is a full-width ``A``) to their plain letters; case
folding then makes ``Admin`` and ``ADMIN`` one name; NFKC again because folding can un-normalise.
"""

from __future__ import annotations

import re
import unicodedata

from shared.schemas.users import USERNAME_PATTERN

_STORABLE = re.compile(USERNAME_PATTERN)


def fold_username(username: str) -> str:
    """The comparison form of a username: NFKC, case-folded, NFKC again."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def is_storable(folded: str) -> bool:
    """Whether a folded name could belong to an account (registration only stores names
    of the username pattern, whose folded form is plain lower-case ASCII)."""
    return _STORABLE.fullmatch(folded) is not None
