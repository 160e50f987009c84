"""A tiny JSON-over-HTTP client for the Chronos API, on urllib only."""

from __future__ import annotations

import contextlib
import json
import math
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

Response = tuple[int, Any]


def rfc3339(epoch: float) -> str:
    """An RFC 3339 UTC time with millisecond precision, as Chronos writes them."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def future(seconds: float) -> tuple[str, float]:
    """A time ``seconds`` from now, rounded up to the millisecond: (text, epoch)."""
    epoch = math.ceil((time.time() + seconds) * 1000) / 1000
    return rfc3339(epoch), epoch


def parse_time(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


class Client:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.submitted: list[str] = []

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _decode(error.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Response:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any = None) -> Response:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Response:
        return self.request("DELETE", path)

    # Chronos-specific conveniences -------------------------------------------------

    def expect(self, method: str, path: str, status: int, body: Any = None) -> Any:
        got, payload = self.request(method, path, body)
        assert got == status, f"{method} {path}: expected {status}, got {got}: {payload}"
        return payload

    def create_user(self, prefix: str = "user") -> tuple[str, str]:
        """Register a fresh user; returns (user_id, token)."""
        username = f"{prefix}{uuid.uuid4().hex[:12]}"
        body = {"username": username, "password": "correct-horse-battery"}
        created = Client(self.base_url).expect("POST", "/users/create", 201, body)
        return created["user"]["id"], created["token"]

    def as_new_user(self) -> Client:
        _, token = self.create_user()
        return Client(self.base_url, token)

    def submit(self, **fields: Any) -> dict[str, Any]:
        job = self.expect("POST", "/jobs/submit", 201, fields)
        self.submitted.append(job["id"])
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        return self.expect("GET", f"/jobs/{job_id}", 200)

    def runs(self, job_id: str) -> list[dict[str, Any]]:
        """Every run of the job, oldest first (the API lists newest first)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            path = f"/jobs/{job_id}/runs?limit=200"
            if cursor:
                path += f"&cursor={cursor}"
            page = self.expect("GET", path, 200)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return list(reversed(items))

    def cancel_submitted(self) -> None:
        """Best-effort cleanup: cancel whatever this client submitted."""
        for job_id in self.submitted:
            with contextlib.suppress(OSError):
                self.request("DELETE", f"/jobs/{job_id}")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
