"""``/docs`` in a real browser: Swagger UI renders the live ``/openapi.json``, loads
nothing from any other origin, breaks no Content-Security-Policy rule (a violation is a
console error) and sends a bearer token with try-it-out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.watched import Watched
from tests.e2e.client import Client

RENDER_TIMEOUT_MS = 30_000


@pytest.fixture
def watched(browser: Any, api_url: str) -> Any:
    page = Watched(browser, api_url)
    yield page
    page.close()


def test_the_reference_renders_from_openapi_json(watched: Watched, api_url: str) -> None:
    page = watched.page
    response = page.goto(f"{api_url}/docs")
    assert response is not None
    assert response.status == 200

    # Swagger UI draws each operation only after it has fetched and parsed the document.
    page.locator(".opblock-summary-path", has_text="/jobs/submit").first.wait_for(
        timeout=RENDER_TIMEOUT_MS
    )
    assert page.locator(".opblock").count() > 10
    fetched = [urlsplit(request.url).path for request in watched.requests]
    assert "/openapi.json" in fetched
    (bundle,) = [r for r in watched.requests if r.url.endswith("/swagger-ui-bundle.js")]
    assert bundle.response().all_headers()["content-encoding"] == "gzip"
    watched.assert_clean()


def test_try_it_out_sends_the_bearer_token(watched: Watched, api_url: str) -> None:
    user = Client(api_url).as_new_user()
    page = watched.page
    page.goto(f"{api_url}/docs")
    page.locator(".opblock-summary-path", has_text="/jobs/submit").first.wait_for(
        timeout=RENDER_TIMEOUT_MS
    )

    page.locator("button.authorize").first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input:not([type])").first.fill(
        str(user.token)
    )
    page.locator(".modal-ux button.authorize").first.click()
    page.locator(".modal-ux button.btn-done, .modal-ux .close-modal").first.click()

    operation = (
        page.locator(".opblock-get", has=page.locator(".opblock-summary-path", has_text="/jobs"))
        .filter(has=page.locator('[data-path="/jobs"]'))
        .first
    )
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    with page.expect_request(lambda request: urlsplit(request.url).path == "/jobs") as sent:
        operation.locator("button.execute").click()
    assert sent.value.headers.get("authorization") == f"Bearer {user.token}"
    operation.locator(".live-responses-table .response-col_status", has_text="200").first.wait_for(
        timeout=RENDER_TIMEOUT_MS
    )
    watched.assert_clean()
