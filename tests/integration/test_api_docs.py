"""``GET /docs``: the page, its vendored assets, their checksums and the wheel."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from falcon import testing

from api.docs import assets, vendor
from api.docs.resources import CONTENT_SECURITY_POLICY
from tests.wheel import build_wheel

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "api" / "docs"
VENDORED = DOCS_DIR / "static" / "swagger-ui"


class PageParts(HTMLParser):
    """Every URL the page references, and anything inline that a strict CSP forbids."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name in {"src", "href", "action", "data-spec-url"} and value is not None:
                self.urls.append(value)
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self.scripts.append(attributes.get("src") or "")
        self._in = tag

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.inline.append(f"<script>{data.strip()[:40]}")

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def parse_page(client: testing.TestClient) -> PageParts:
    response = client.simulate_get("/docs")
    assert response.status_code == 200
    parts = PageParts()
    parts.feed(response.text)
    return parts


def test_every_vendored_file_matches_the_manifest() -> None:
    manifest = json.loads((VENDORED / "MANIFEST.json").read_text())
    assert manifest["package"] == "swagger-ui-dist"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"]), "pin an exact version"
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", manifest["integrity"])
    on_disk = {path.name for path in VENDORED.iterdir()} - {"MANIFEST.json"}
    assert on_disk == set(manifest["files"]), "files and manifest disagree"
    for name, expected in manifest["files"].items():
        actual = hashlib.sha256((VENDORED / name).read_bytes()).hexdigest()
        assert actual == expected, f"{name}: changed since it was vendored"
    assert "Apache License" in (VENDORED / "LICENSE").read_text()
    assert assets.vendored_manifest() == manifest


def test_the_page_references_only_same_origin_assets_and_nothing_inline(
    client: testing.TestClient,
) -> None:
    parts = parse_page(client)
    assert parts.inline == []
    assert len(parts.scripts) == 2
    assert all(parts.scripts), "scripts come from files"
    assert parts.urls
    for url in parts.urls:
        assert url.startswith("/"), f"{url}: not same-origin"
        assert not url.startswith("//"), f"{url}: not same-origin"
        assert client.simulate_get(url).status_code == 200, url
    assert "/openapi.json" in parts.urls


def test_swagger_ui_is_told_not_to_call_its_validator() -> None:
    initializer = (DOCS_DIR / "static" / "chronos-docs.js").read_text()
    assert re.search(r"validatorUrl:\s*null", initializer)


def test_the_page_has_a_strict_content_security_policy(client: testing.TestClient) -> None:
    response = client.simulate_get("/docs")
    policy = response.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_page_needs_no_token(client: testing.TestClient) -> None:
    response = client.simulate_get("/docs", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("chronos-docs.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("favicon-16x16.png", "image/png"),
    ],
)
def test_each_asset_is_served_with_its_type_and_cached_for_good(
    client: testing.TestClient, name: str, content_type: str
) -> None:
    asset = assets.load_assets()[name]
    response = client.simulate_get(asset.url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert response.content == asset.body
    assert asset.fingerprint in asset.url

    etag = response.headers["ETag"]
    again = client.simulate_get(asset.url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("accept", ["gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "GZIP"])
def test_scripts_and_styles_are_gzipped_for_clients_that_take_it(
    client: testing.TestClient, accept: str
) -> None:
    bundle = assets.load_assets()["swagger-ui-bundle.js"]
    response = client.simulate_get(bundle.url, headers={"Accept-Encoding": accept})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert len(response.content) < len(bundle.body) / 2
    assert gzip.decompress(response.content) == bundle.body
    etag = response.headers["ETag"]
    assert etag != client.simulate_get(bundle.url).headers["ETag"], "one tag per encoding"
    again = client.simulate_get(
        bundle.url, headers={"Accept-Encoding": accept, "If-None-Match": etag}
    )
    assert again.status_code == 304


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0", "br", "gzip;q=oops"])
def test_others_get_the_file_as_it_is(client: testing.TestClient, accept: str | None) -> None:
    css = assets.load_assets()["swagger-ui.css"]
    headers = {} if accept is None else {"Accept-Encoding": accept}
    response = client.simulate_get(css.url, headers=headers)
    assert "Content-Encoding" not in response.headers
    assert response.content == css.body


def test_images_are_never_gzipped(client: testing.TestClient) -> None:
    icon = assets.load_assets()["favicon-32x32.png"]
    response = client.simulate_get(icon.url, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
    assert response.content == icon.body


def test_the_served_bundle_is_the_vendored_file(client: testing.TestClient) -> None:
    bundle = assets.load_assets()["swagger-ui-bundle.js"]
    manifest = assets.vendored_manifest()
    body = client.simulate_get(bundle.url).content
    assert hashlib.sha256(body).hexdigest() == manifest["files"]["swagger-ui-bundle.js"]


@pytest.mark.parametrize(
    "path",
    [
        "/docs/static/../../pyproject.toml",
        "/docs/static/..",
        "/docs/static/%2e%2e/%2e%2e/pyproject.toml",
        "/docs/static/x/..%2f..%2f..%2fpyproject.toml",
        "/docs/static/x/../swagger-ui.css",
        "/docs/static/x/MANIFEST.json",
        "/docs/static/x/LICENSE",
        "/docs/static/x/page.html",
        "/docs/static/x/swagger-ui.css",  # the right file, the wrong fingerprint
        "/docs/static/swagger-ui/swagger-ui.css",
        "/docs/static/swagger-ui.css",
        "/docs/page.html",
    ],
)
def test_anything_but_a_listed_asset_is_404(client: testing.TestClient, path: str) -> None:
    response = client.simulate_get(path)
    assert response.status_code == 404
    assert b"Apache" not in response.content
    assert b"[project]" not in response.content


def test_a_real_fingerprinted_traversal_is_404(client: testing.TestClient) -> None:
    css = assets.load_assets()["swagger-ui.css"]
    response = client.simulate_get(f"/docs/static/{css.fingerprint}/../../../pyproject.toml")
    assert response.status_code == 404


def test_the_wheel_carries_the_vendored_files(tmp_path: Path) -> None:
    """A ``pip install`` must be enough to serve /docs."""
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"api/docs/{path}" for path, _ in assets.FILES.values()}
    wanted |= {f"api/docs/static/swagger-ui/{name}" for name in vendor.FILES}
    wanted |= {"api/docs/page.html", "api/docs/static/swagger-ui/MANIFEST.json"}
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"


def test_vendoring_takes_only_the_listed_files_and_records_their_checksums() -> None:
    """The re-vendoring script's own logic, on a tarball made here (no npm, no network)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in (*vendor.FILES, "index.html", "swagger-initializer.js"):
            blob = f"contents of {name}".encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    tarball = buffer.getvalue()

    contents = vendor.extract(tarball)
    assert set(contents) == set(vendor.FILES)
    integrity = vendor.sri_sha512(tarball)
    manifest = vendor.manifest_of("1.2.3", integrity, contents)
    assert manifest["version"] == "1.2.3"
    assert manifest["integrity"] == integrity
    files = manifest["files"]
    assert isinstance(files, dict)
    assert files["LICENSE"] == hashlib.sha256(b"contents of LICENSE").hexdigest()


def test_vendoring_refuses_a_package_without_a_listed_file() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    with pytest.raises(KeyError):
        vendor.extract(buffer.getvalue())
