"""A real browser (Debian's Chromium, driven by Playwright) against the real API, started
with the Procfile's gunicorn command.

Playwright's own browser download cannot work on these machines (no network but the
package registries), so the tests drive the system's ``chromium`` package, which
``.ci/run`` installs. They are skipped only when that browser is not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UNLIMITED_USERS
from tests.e2e.client import Client
from tests.e2e.stack import ACTIVE, VENV_BIN, Stack, tail
from tests.e2e.waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="package")
def chromium_path() -> Path:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(
                "Chromium is not installed (apt-get install chromium; .ci/run does): "
                "the browser tests need /usr/bin/chromium"
            )
        return Path(found)
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="package")
def api_url(
    database_url: str, queue_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API alone, as ``gunicorn 'api.app:create_app()'`` from the Procfile."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHRONOS_")}
    port = free_port()
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PYTHONUNBUFFERED": "1",
            "CHRONOS_DATABASE_URL": database_url,
            "CHRONOS_QUEUE_PREFIX": queue_prefix,
            "CHRONOS_API_BIND": f"127.0.0.1:{port}",
            "CHRONOS_API_WORKERS": "1",
            "CHRONOS_JWT_SECRET": "browser-secret-" + "b" * 40,
            **UNLIMITED_USERS,
        }
    )
    stack = Stack(env, tmp_path_factory.mktemp("chronos-browser-logs"), port)
    ACTIVE.append(stack)
    api = stack.spawn("api", "api")

    def healthy() -> bool:
        if not api.alive():
            raise AssertionError(f"the API exited:\n{tail(api.log_path, 60)}")
        try:
            status, _ = Client(stack.url, timeout=2).get("/health")
        except OSError:
            return False
        return status == 200

    try:
        wait_for(healthy, timeout=60, interval=0.1, message="GET /health to answer 200")
        yield stack.url
    finally:
        stack.stop()
