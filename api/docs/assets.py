"""The files behind ``/docs``, read once from this package and served from memory.

Each asset's URL carries a fingerprint of its contents, so a browser may keep it for a
year (``immutable``) and still never runs a stale copy after an upgrade: new contents
are a new URL. The HTML page, which names those URLs, is never cached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

STATIC_PREFIX = "/docs/static"
SPEC_URL = "/openapi.json"
SWAGGER_UI = "static/swagger-ui"

JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
PNG = "image/png"

# URL name -> (file in this package, Content-Type). Only these are served: a name that
# is not here (``..``, ``MANIFEST.json``, a typo) is a 404.
FILES: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": (f"{SWAGGER_UI}/swagger-ui-bundle.js", JAVASCRIPT),
    "swagger-ui.css": (f"{SWAGGER_UI}/swagger-ui.css", CSS),
    "favicon-32x32.png": (f"{SWAGGER_UI}/favicon-32x32.png", PNG),
    "favicon-16x16.png": (f"{SWAGGER_UI}/favicon-16x16.png", PNG),
    "chronos-docs.js": ("static/chronos-docs.js", JAVASCRIPT),
}


@dataclass(frozen=True)
class Asset:
    """A static file served from memory under ``prefix`` (``/docs/static``, or the
    dashboard's ``/ui/static``)."""

    name: str
    body: bytes
    content_type: str
    prefix: str = STATIC_PREFIX

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]

    @property
    def url(self) -> str:
        return f"{self.prefix}/{self.fingerprint}/{self.name}"


def package_file(path: str) -> bytes:
    return resources.files(__package__).joinpath(path).read_bytes()


def load_assets() -> dict[str, Asset]:
    return {
        name: Asset(name, package_file(path), content_type)
        for name, (path, content_type) in FILES.items()
    }


def render_page(assets: dict[str, Asset]) -> bytes:
    template = Template(package_file("page.html").decode())
    return template.substitute(
        spec_url=SPEC_URL,
        swagger_ui_css=assets["swagger-ui.css"].url,
        swagger_ui_bundle=assets["swagger-ui-bundle.js"].url,
        initializer=assets["chronos-docs.js"].url,
        favicon_32=assets["favicon-32x32.png"].url,
        favicon_16=assets["favicon-16x16.png"].url,
    ).encode()


def vendored_manifest() -> dict[str, Any]:
    """What ``python -m api.docs.vendor`` recorded: package, version, integrity, and
    each vendored file's SHA-256."""
    manifest: dict[str, Any] = json.loads(package_file(f"{SWAGGER_UI}/MANIFEST.json"))
    return manifest
