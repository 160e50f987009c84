"""A browser page that fails its test on any request to another origin, and on any
console error, page error or failed request (a Content-Security-Policy violation is a
console error)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


class Watched:
    """A page whose every request is checked for its origin, and whose console errors,
    page errors and failed requests are collected."""

    def __init__(self, browser: Any, origin: str, **context_options: Any) -> None:
        self.origin = origin
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.requests: list[Any] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "requestfailed",
            lambda request: self.errors.append(f"request failed: {request.url}"),
        )

    def _route(self, route: Any) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def close(self) -> None:
        self.context.close()

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests to other origins: {self.foreign}"
        assert self.errors == [], "\n".join(self.errors)
