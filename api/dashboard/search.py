"""The jobs page's search box: qualifiers, as GitHub's and Oban's are written.

    type:http queue:default name:report payload.url:"https://x" nightly

- ``status:``, ``type:``, ``queue:`` and ``name:`` match exactly;
- ``recurring:yes`` or ``recurring:no``;
- ``owner:<username>``, for admins;
- ``payload.<path>:<value>`` matches jobs whose payload holds that value at that path,
  as JSONB containment (``payload @> '{"url": "https://x"}'``), on a GIN index. A quoted
  value is a string; an unquoted one is a JSON number, ``true``, ``false`` or ``null``
  when it reads as one, else a string;
- a word with no qualifier matches names that contain it, ignoring case.

Pure: no I/O. Anything it cannot read is a 400 naming ``q``, never a guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ValidationError
from shared.repository.dashboard import JobMatch
from shared.schemas.queries import JobFilters
from shared.states import JobStatus
from shared.text import UNSTORABLE
from shared.validation import parse_body

MAX_QUERY_CHARS = 500
MAX_PATH_DEPTH = 8
EXACT = ("status", "type", "queue", "name")
QUALIFIERS = (*EXACT, "recurring", "owner", "payload.<path>")
TERM = re.compile(r'(?:([A-Za-z_][\w.-]*):)?(?:"((?:[^"\\]|\\.)*)"|(\S+))')
PATH_SEGMENT = re.compile(r"^[\w-]{1,64}$")
YES = {"yes", "true", "1"}
NO = {"no", "false", "0"}


@dataclass
class JobSearch:
    filters: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    recurring: bool | None = None
    owner: str | None = None
    words: list[str] = field(default_factory=list)

    def match(self) -> JobMatch:
        return JobMatch(
            filters=dict(self.filters),
            payload=self.payload,
            recurring=self.recurring,
            owner_name=self.owner,
            words=tuple(self.words),
        )

    def add_exact(self, key: str, value: str) -> None:
        if key == "status" and value not in set(JobStatus):
            known = ", ".join(JobStatus)
            raise ValidationError("q", f"status:{value}: expected one of {known}")
        if self.filters.get(key, value) != value:
            earlier = self.filters[key]
            raise ValidationError("q", f"{key}: given twice, as {earlier!r} and {value!r}")
        self.filters[key] = value

    def add_payload(self, path: str, value: Any) -> None:
        segments = path.split(".")
        if len(segments) > MAX_PATH_DEPTH or not all(PATH_SEGMENT.match(s) for s in segments):
            raise ValidationError(
                "q",
                f"payload.{path}: a path is up to {MAX_PATH_DEPTH} names of letters, "
                "digits, _ and -, joined by dots",
            )
        nested: Any = value
        for segment in reversed(segments):
            nested = {segment: nested}
        self.payload = _merge(self.payload or {}, nested, path)


def _merge(into: dict[str, Any], more: dict[str, Any], path: str) -> dict[str, Any]:
    merged = dict(into)
    for key, value in more.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value, path)
        elif key in merged and merged[key] != value:
            raise ValidationError("q", f"payload.{path}: given twice with different values")
        else:
            merged[key] = value
    return merged


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def scalar(raw: str) -> Any:
    """An unquoted value: a JSON number or literal when it reads as one (a finite one:
    ``1e999`` and ``NaN`` stay text, as PostgreSQL's JSON has no such numbers)."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        return raw
    if isinstance(value, float) and not math.isfinite(value):
        return raw
    return value if value is None or isinstance(value, bool | int | float) else raw


def parse_search(query: str, *, is_admin: bool) -> JobSearch:
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError("q", f"at most {MAX_QUERY_CHARS} characters")
    if UNSTORABLE.search(query):
        raise ValidationError("q", "a NUL or an unpaired surrogate cannot be searched for")
    search = JobSearch()
    position = 0
    text = query.strip()
    while position < len(text):
        match = TERM.match(text, position)
        if match is None or match.end() == position:  # an unmatched quote
            raise ValidationError("q", f"cannot read the search from {text[position:]!r}")
        key, quoted, bare = match.groups()
        if bare is not None and bare.startswith('"'):
            raise ValidationError("q", f"a quote is not closed in {text[position:]!r}")
        value = bare if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
        _add(search, key, value, quoted is not None, is_admin)
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return search


def _add(search: JobSearch, key: str | None, value: str, quoted: bool, is_admin: bool) -> None:
    if key is None:
        search.words.append(value)
    elif key in EXACT:
        search.add_exact(key, value)
    elif key == "recurring":
        if value.lower() not in YES | NO:
            raise ValidationError("q", f"recurring:{value}: expected yes or no")
        search.recurring = value.lower() in YES
    elif key == "owner":
        if not is_admin:
            raise ValidationError("q", "owner: only an admin sees other users' jobs")
        search.owner = value
    elif key.startswith("payload."):
        search.add_payload(key.removeprefix("payload."), value if quoted else scalar(value))
    else:
        raise ValidationError("q", f"{key}: not a qualifier; use one of {', '.join(QUALIFIERS)}")


def search_of(params: Mapping[str, Any], *, is_admin: bool) -> tuple[JobFilters, JobSearch]:
    """The jobs page's query string (blank fields left out): its paging and exact
    filters, checked as the JSON API checks them, merged with the search box's
    qualifiers and the recurring and owner fields."""
    filters: JobFilters = parse_body(JobFilters, params)
    search = parse_search(str(params.get("q", "")), is_admin=is_admin)
    for column, value in filters.filters().items():
        search.add_exact(column, value)
    recurring = params.get("recurring")
    if recurring is not None:
        if recurring not in ("yes", "no"):
            raise ValidationError("recurring", "expected yes or no")
        search.recurring = recurring == "yes"
    owner = params.get("owner")
    if owner is not None:
        if not is_admin:
            raise ValidationError("owner", "only an admin sees other users' jobs")
        if not isinstance(owner, str) or len(owner) > 64 or UNSTORABLE.search(owner):
            raise ValidationError("owner", "expected a username")
        search.owner = owner
    return filters, search
